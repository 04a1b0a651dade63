namespace Engine.Tests;

public class DeviceTests
{
    [Fact]
    public void Both_cpu_backends_are_always_present()
    {
        Assert.Contains("cpu", Device.Available());
        Assert.Contains("ilgpu-cpu", Device.Available());
        using var dev = Device.Create("cpu");
        Assert.Equal("cpu", dev.Kind);
        Assert.IsType<Engine.Kernels.Simd.SimdKernels>(dev.Kernels);
        Assert.Contains("SIMD", dev.ToString());
        using var simulator = Device.Create("ilgpu-cpu");
        Assert.Equal("ilgpu-cpu", simulator.Kind);
        Assert.IsType<Engine.Kernels.Ilgpu.IlgpuKernels>(simulator.Kernels);
    }

    [Fact]
    public void Auto_never_picks_the_ilgpu_simulator_over_the_simd_backend()
    {
        string? saved = Environment.GetEnvironmentVariable(Device.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(Device.EnvironmentVariable, null);
            using var dev = Device.Create();
            Assert.NotEqual("ilgpu-cpu", dev.Kind);
            if (!Device.Available().Contains("cuda")) Assert.Contains(dev.Kind, new[] { "opencl", "cpu" });
        }
        finally
        {
            Environment.SetEnvironmentVariable(Device.EnvironmentVariable, saved);
        }
    }

    [Fact]
    public void The_thread_count_is_settable_like_torch_set_num_threads()
    {
        int saved = Device.NumThreads;
        try
        {
            Assert.Equal(Environment.ProcessorCount, saved);
            Device.NumThreads = 1;
            Assert.Equal(1, Device.NumThreads);
            Assert.Throws<ArgumentOutOfRangeException>(() => Device.NumThreads = 0);
        }
        finally
        {
            Device.NumThreads = saved;
        }
    }

    [Fact]
    public void An_unknown_kind_lists_the_valid_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => Device.Create("tpu"));
        Assert.Contains("tpu", e.Message);
        Assert.Contains("cuda, opencl, cpu, ilgpu-cpu", e.Message);
    }

    [Fact]
    public void A_kind_that_is_not_present_lists_the_present_devices()
    {
        var missing = new[] { "cuda", "opencl" }.Except(Device.Available()).FirstOrDefault();
        if (missing == null) return; // every kind is present on this machine: nothing to name as missing.
        var e = Assert.Throws<InvalidOperationException>(() => Device.Create(missing));
        Assert.Contains($"'{missing}' is not present", e.Message);
        Assert.Contains("cpu:0 (SIMD)", e.Message);
    }

    [Fact]
    public void Auto_honours_the_environment_variable()
    {
        string? saved = Environment.GetEnvironmentVariable(Device.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(Device.EnvironmentVariable, "cpu");
            using var dev = Device.Create();
            Assert.Equal("cpu", dev.Kind);
            Environment.SetEnvironmentVariable(Device.EnvironmentVariable, "bogus");
            var e = Assert.Throws<ArgumentException>(() => Device.Create());
            Assert.Contains("ENGINE_DEVICE is 'bogus'", e.Message);
            Assert.DoesNotContain("'auto'", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Device.EnvironmentVariable, saved);
        }
    }

    [Fact]
    public void Kernels_compile_once_per_device()
    {
        var dev = TestDevice.Ilgpu;
        var kernels = ((Engine.Kernels.Ilgpu.IlgpuKernels)dev.Kernels).Context;
        using var scope = new DisposeScope();
        var x = Tensor.RandN(dev, new[] { 3, 4 }, seed: 1, requiresGrad: true);
        (x.Tanh() * 2f).Sum().Backward();
        int compiled = kernels.CompiledKernelCount;
        for (int i = 0; i < 3; i++) (x.Tanh() * 2f).Sum().Backward();
        Assert.Equal(compiled, kernels.CompiledKernelCount);
    }

    /// <summary>Reading or writing a tensor after its device is gone throws, never touches freed memory.</summary>
    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void Using_a_tensor_after_its_device_is_disposed_throws_object_disposed(string kind)
    {
        var dev = Device.Create(kind);
        var model = new Engine.Nn.Linear(dev, 3, 2, seed: 1);
        var t = Tensor.FromArray(dev, new[] { 1f, 2f }, new[] { 2 });
        var one = Tensor.FromArray(dev, new[] { 5f }, new[] { 1 });
        var opt = new Engine.Optim.Sgd(model.Parameters(), lr: 0.1f);
        dev.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.ToArray());
        Assert.Throws<ObjectDisposedException>(() => one.Item());
        Assert.Throws<ObjectDisposedException>(() => t.ToString());
        Assert.Throws<ObjectDisposedException>(() => t.CopyFrom(new[] { 3f, 4f }));
        Assert.Throws<ObjectDisposedException>(() => model.Save(Path.Combine(Path.GetTempPath(), $"disposed-{kind}.safetensors")));
        Assert.Throws<ObjectDisposedException>(() => opt.Step());
        var e = Assert.Throws<ObjectDisposedException>(() => t.ToArray());
        Assert.Contains("disposed", e.Message);
    }

    /// <summary>torch.cuda.memory_allocated / memory_reserved / max_memory_allocated / reset_peak_memory_stats.</summary>
    [Fact]
    public void Memory_counts_allocated_reserved_and_peak_bytes_and_the_peak_resets()
    {
        using var dev = Device.Create(TestDevice.Instance.Kind);
        var start = dev.Memory;
        Assert.Equal(0, start.AllocatedBytes);
        var a = Tensor.Zeros(dev, new[] { 1000, 1000 });
        var b = Tensor.Zeros(dev, new[] { 500, 1000 });
        var held = dev.Memory;
        Assert.InRange(held.AllocatedBytes, 6_000_000, 6_100_000); // 1.5 M floats (and a little alignment slack)
        Assert.True(held.ReservedBytes >= held.AllocatedBytes, $"{held}");
        Assert.Equal(held.AllocatedBytes, held.PeakAllocatedBytes);

        a.Dispose();
        var afterFree = dev.Memory;
        Assert.InRange(afterFree.AllocatedBytes, 2_000_000, 2_050_000);
        Assert.Equal(held.ReservedBytes, afterFree.ReservedBytes); // the freed buffer waits in the pool
        Assert.Equal(held.PeakAllocatedBytes, afterFree.PeakAllocatedBytes);

        dev.ResetPeakMemoryStats();
        Assert.Equal(afterFree.AllocatedBytes, dev.Memory.PeakAllocatedBytes);
        Assert.Equal(afterFree.ReservedBytes, dev.Memory.PeakReservedBytes);
        using (var c = Tensor.Zeros(dev, new[] { 1000, 1000 })) // reuses a's idle buffer: no new reservation
            Assert.Equal(afterFree.ReservedBytes, dev.Memory.ReservedBytes);
        Assert.Equal(held.AllocatedBytes, dev.Memory.PeakAllocatedBytes);
        b.Dispose();
        dev.EmptyCache();
        Assert.Equal(0, dev.Memory.AllocatedBytes);
        Assert.Equal(0, dev.Memory.ReservedBytes);
    }
}
