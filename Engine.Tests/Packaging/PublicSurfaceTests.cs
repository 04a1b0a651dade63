using System.Reflection;
using Module = Engine.Nn.Module;

namespace Engine.Tests.Packaging;

/// <summary>
/// What a user of the packed packages sees in IntelliSense: no public type of the engine or its kernel library has the
/// simple name of a layer (the kernels' element-wise operator structs are <c>ReluOp</c>, <c>SigmoidOp</c>, …, so
/// <c>new Relu()</c> means the layer whatever the usings).
/// </summary>
public sealed class PublicSurfaceTests
{
    private static readonly Assembly[] Packed = { typeof(Tensor).Assembly, typeof(Engine.Kernels.IKernels).Assembly };

    private static string SimpleName(Type t) => t.Name.Split('`')[0];

    [Fact]
    public void No_public_type_is_named_like_a_layer()
    {
        var layers = Packed.SelectMany(a => a.GetExportedTypes())
            .Where(t => typeof(Module).IsAssignableFrom(t) && !t.IsAbstract)
            .Select(SimpleName).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("Relu", layers);
        Assert.Contains("Conv2d", layers);
        var clashes = Packed.SelectMany(a => a.GetExportedTypes())
            .Where(t => !typeof(Module).IsAssignableFrom(t) && layers.Contains(SimpleName(t)))
            .Select(t => t.FullName).ToList();
        Assert.True(clashes.Count == 0, $"public types named like a layer: {string.Join(", ", clashes)}");
    }

    [Fact]
    public void The_packages_carry_their_identity_licence_and_docs()
    {
        foreach (var assembly in Packed)
        {
            var product = assembly.GetCustomAttribute<AssemblyProductAttribute>()?.Product;
            Assert.Equal("Tensorwright", product);
            var xml = Path.ChangeExtension(assembly.Location, ".xml");
            Assert.True(File.Exists(xml), $"{assembly.GetName().Name}: no XML documentation beside it ({xml})");
        }
        var root = Engine.Tests.Docs.DocsCompileTests.RepositoryRoot();
        Assert.Contains("MIT License", File.ReadAllText(Path.Combine(root, "LICENSE")));
        var props = File.ReadAllText(Path.Combine(root, "Directory.Build.props"));
        Assert.Contains("<PackageLicenseExpression>MIT</PackageLicenseExpression>", props);
        Assert.Contains("<VersionPrefix>", props);
    }
}
