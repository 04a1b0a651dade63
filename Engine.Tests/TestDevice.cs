using Engine;

namespace Engine.Tests;

/// <summary>
/// The one device the whole suite runs on: <c>Device.Create()</c>, so <c>ENGINE_DEVICE=cuda|opencl|cpu</c>
/// picks it (CPU accelerator in CI). Shared so each kernel compiles once per run; tests run one at a time.
/// </summary>
public static class TestDevice
{
    private static readonly Lazy<Device> Shared = new(() => Device.Create());

    public static Device Instance => Shared.Value;
}
