// Every test shares one device (kernels compile once per run); a device is driven from one thread at a time,
// and ILGPU's CPU accelerator already uses every core with spinning workers, so tests run one after another.
// (xunit.runner.json alone is not honoured when `dotnet test` drives the Microsoft.Testing.Platform runner.)
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]
