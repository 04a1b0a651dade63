using BenchmarkDotNet.Attributes;

namespace Engine.Benchmarks;

/// <summary>
/// Base of the kernel benchmarks: a <see cref="DeviceKind"/> parameter over the devices present (cpu — the SIMD
/// backend —, ilgpu-cpu, cuda, opencl; <c>ENGINE_DEVICE</c> narrows it to one), the device opened once per case, and <see cref="Sync"/>
/// to end every measured invocation, so the time is the kernels' and not their queueing.
/// </summary>
[Config(typeof(EngineConfig))]
public abstract class DeviceBenchmark
{
    protected Device Device { get; private set; } = null!;

    [ParamsSource(nameof(DeviceKinds))]
    public string DeviceKind { get; set; } = "cpu";

    public static IEnumerable<string> DeviceKinds()
    {
        string? only = Environment.GetEnvironmentVariable(Engine.Device.EnvironmentVariable);
        return string.IsNullOrWhiteSpace(only) ? Engine.Device.Available() : new[] { only.Trim().ToLowerInvariant() };
    }

    /// <summary>Sizes for a benchmark: the small ones only in the quick configuration.</summary>
    protected static IEnumerable<int> Sizes(params int[] sizes) => EngineConfig.Quick ? sizes.Take(1) : sizes;

    [GlobalSetup]
    public void GlobalSetup()
    {
        Device = Engine.Device.Create(DeviceKind);
        Setup();
        Sync(); // kernels compile in Setup's warm-up call, outside the measurement
    }

    [GlobalCleanup]
    public void GlobalCleanup()
    {
        Cleanup();
        Device.Dispose();
    }

    protected abstract void Setup();

    protected virtual void Cleanup()
    {
    }

    protected void Sync() => Device.Synchronize();
}
