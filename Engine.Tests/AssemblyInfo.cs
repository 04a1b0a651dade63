// Every test shares one device (kernels compile once per run); a device is driven from one thread at a time, and
// both CPU backends already use every core (the SIMD pool, ILGPU's spinning workers), so tests run one after another;
// the SIMD tests also switch process-wide settings (register width, thread count) for the length of one test.
// (xunit.runner.json alone is not honoured when `dotnet test` drives the Microsoft.Testing.Platform runner.)
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]
