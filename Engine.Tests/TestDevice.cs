using Engine;
using Engine.Kernels.Ilgpu;

namespace Engine.Tests;

/// <summary>
/// The one device the whole suite runs on: <c>Device.Create()</c>, so <c>ENGINE_DEVICE=cuda|opencl|cpu|ilgpu-cpu</c>
/// picks it (CI runs the suite on <c>cpu</c> and on <c>ilgpu-cpu</c>). Shared so each kernel compiles once per run;
/// tests run one at a time.
/// </summary>
public static class TestDevice
{
    private static readonly Lazy<Device> Shared = new(() => Device.Create());
    private static readonly Lazy<Device> SharedIlgpu = new(() =>
        Shared.Value.Kernels is IlgpuKernels ? Shared.Value : Device.Create("ilgpu-cpu"));
    private static readonly Lazy<Device> SharedSimd = new(() =>
        Shared.Value.Kind == "cpu" ? Shared.Value : Device.Create("cpu"));

    public static Device Instance => Shared.Value;

    /// <summary>A device running the ILGPU kernels: the suite's own when it is one, else ILGPU's CPU accelerator.</summary>
    public static Device Ilgpu => SharedIlgpu.Value;

    /// <summary>The SIMD <c>cpu</c> device: the suite's own when it is one, else a second device.</summary>
    public static Device Simd => SharedSimd.Value;
}
