using System.Reflection;
using Engine.Kernels;

namespace Engine.Benchmarks.Ptx;

/// <summary>
/// Every kernel instantiation the engine can launch: each public static void kernel method of the ILGPU backend's
/// kernel classes (<c>Engine.Kernels.*Kernels</c>, not their <see cref="KernelContext"/> launchers), with each generic
/// parameter bound to every operator struct that satisfies its constraints (every <see cref="IUnaryOp"/> for
/// <c>Unary&lt;TOp&gt;</c>, both layouts for each operand of a matrix product, …).
/// </summary>
public static class KernelCatalog
{
    public static IReadOnlyList<MethodInfo> All()
    {
        var assembly = typeof(IKernels).Assembly;
        var structs = assembly.GetTypes().Where(t => t.IsValueType && t.IsPublic && !t.IsGenericTypeDefinition).ToList();
        var kernels = new List<MethodInfo>();
        foreach (var type in assembly.GetTypes().Where(t => t.IsClass && t.IsAbstract && t.IsSealed && t.IsPublic &&
                                                            t.Namespace == "Engine.Kernels" && t.Name.EndsWith("Kernels", StringComparison.Ordinal))
                     .OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly)
                         .Where(IsKernel).OrderBy(m => m.Name, StringComparer.Ordinal))
            {
                if (!method.IsGenericMethodDefinition)
                {
                    kernels.Add(method);
                    continue;
                }
                var choices = method.GetGenericArguments()
                    .Select(p => structs.Where(s => Satisfies(s, p)).OrderBy(s => s.Name, StringComparer.Ordinal).ToList()).ToList();
                foreach (var combination in Cartesian(choices)) kernels.Add(method.MakeGenericMethod(combination.ToArray()));
            }
        }
        return kernels;
    }

    /// <summary>A short name: <c>ElementwiseKernels.Unary&lt;Relu&gt;</c>.</summary>
    public static string NameOf(MethodInfo kernel) =>
        $"{kernel.DeclaringType!.Name}.{kernel.Name}" +
        (kernel.IsGenericMethod ? "<" + string.Join(",", kernel.GetGenericArguments().Select(a => a.Name)) + ">" : "");

    private static bool IsKernel(MethodInfo m) =>
        m.ReturnType == typeof(void) && m.GetParameters().Length > 0 &&
        m.GetParameters().All(p => p.ParameterType.IsValueType || p.ParameterType.IsGenericParameter) &&
        m.GetParameters()[0].ParameterType != typeof(KernelContext);

    private static bool Satisfies(Type candidate, Type parameter) =>
        parameter.GetGenericParameterConstraints().All(c => c.IsAssignableFrom(candidate)) &&
        (!parameter.GenericParameterAttributes.HasFlag(GenericParameterAttributes.NotNullableValueTypeConstraint) ||
         candidate.IsValueType) && parameter.GetGenericParameterConstraints().Any(c => c.IsInterface);

    private static IEnumerable<List<Type>> Cartesian(List<List<Type>> choices)
    {
        IEnumerable<List<Type>> result = new[] { new List<Type>() };
        foreach (var options in choices) result = result.SelectMany(r => options.Select(o => r.Append(o).ToList()));
        return result;
    }
}
