namespace Examples.Serving;

/// <summary>The <c>serve</c> command: recover the state, serve until SIGTERM/Ctrl-C, then checkpoint and stop.</summary>
public static class ServeJob
{
    public static int Run(ServeOptions options)
    {
        if (string.IsNullOrEmpty(options.Token))
            throw new ArgumentException("serve: give --token SECRET (or set ENGINE_SERVE_TOKEN); /learn, /checkpoint and /model require it.");
        using var service = new OnlineLearningService(options);
        var s = service.Snapshot;
        Console.WriteLine($"device: {service.DeviceDescription}; model {service.InputCount} → {service.OutputCount} " +
                          $"({options.Task}), state in {Path.GetFullPath(options.StateDir)}");
        Console.WriteLine($"recovered: checkpoint at sample {s.CheckpointSample}, {s.ReplayedSamples} samples replayed from the log" +
                          (s.TornRecordsDropped > 0 ? $", {s.TornRecordsDropped} torn (unacknowledged) record dropped" : ""));
        foreach (var line in service.SalvageReport) Console.WriteLine($"salvage: {line}");
        if (options.Salvage && service.SalvageReport.Count == 0) Console.WriteLine("salvage: the log verified; nothing was changed.");
        var app = ServeApp.Create(options, service);
        app.Lifetime.ApplicationStarted.Register(() =>
            Console.WriteLine($"serving on http://{options.Host}:{options.Port} (POST /predict, /learn; GET /metrics, /health, /model; POST /checkpoint)"));
        app.Run();
        service.Stop();
        Console.WriteLine($"stopped: checkpoint at sample {service.Snapshot.CheckpointSample}");
        return 0;
    }
}
