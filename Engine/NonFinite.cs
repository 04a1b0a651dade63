using Engine.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Engine;

/// <summary>Finds NaN and ±∞ in device buffers: one flag kernel and one 4-byte read back (synchronizes).</summary>
internal static class NonFinite
{
    /// <summary>True when every element of every buffer in <paramref name="values"/> is finite (one read back).</summary>
    public static bool AllFinite(Device device, params ArrayView<float>[] values)
    {
        if (values.Length == 0) return true;
        var flag = device.Pool.Rent<int>(1);
        try
        {
            for (int i = 0; i < values.Length; i++) device.Kernels.FlagNonFinite(values[i], flag.View, reset: i == 0);
            var host = new int[1];
            device.Kernels.Download<int>(flag.View, host);
            return host[0] == 0;
        }
        finally
        {
            device.Pool.Return(flag);
        }
    }

    /// <summary>"[12] = NaN" for the first non-finite element of a buffer already known to hold one.</summary>
    public static string FirstBad(ArrayView<float> values, Device device)
    {
        var host = new float[values.Length];
        device.Kernels.Download(values, host);
        int count = host.Count(v => !float.IsFinite(v));
        int i = Array.FindIndex(host, v => !float.IsFinite(v));
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"element [{i}] = {host[i]} ({count} of {host.Length} not finite)");
    }
}
