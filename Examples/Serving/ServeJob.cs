namespace Examples.Serving;

/// <summary>The <c>serve</c> command: recover the state, serve until SIGTERM/Ctrl-C, then checkpoint and stop.</summary>
public static class ServeJob
{
    public static int Run(ServeOptions options)
    {
        if (string.IsNullOrEmpty(options.Token))
            throw new ArgumentException("serve: give --token SECRET (or set ENGINE_SERVE_TOKEN); /learn, /checkpoint and /model require it.");
        ServeTls.CheckOptions(options);
        // The certificate first: a bad one stops the start before the state is recovered or a port is taken.
        using var certificate = options.Https ? ServeTls.LoadCertificate(options.CertPath!, options.KeyPath!) : null;
        using var service = new OnlineLearningService(options);
        var s = service.Snapshot;
        Console.WriteLine($"device: {service.DeviceDescription}; model {service.InputCount} → {service.OutputCount} " +
                          $"({options.Task}), state in {Path.GetFullPath(options.StateDir)}");
        Console.WriteLine($"recovered: checkpoint at sample {s.CheckpointSample}, {s.ReplayedSamples} samples replayed from the log" +
                          (s.TornRecordsDropped > 0 ? $", {s.TornRecordsDropped} torn (unacknowledged) record dropped" : ""));
        foreach (var line in service.SalvageReport) Console.WriteLine($"salvage: {line}");
        if (options.Salvage && service.SalvageReport.Count == 0) Console.WriteLine("salvage: the log verified; nothing was changed.");
        var app = ServeApp.Create(options, service, certificate: certificate);
        string scheme = options.Https ? "https" : "http";
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            Console.WriteLine($"serving on {scheme}://{options.Host}:{options.Port} (POST /predict, /learn; GET /metrics, /health, /model; POST /checkpoint)");
            if (options.Https)
                Console.WriteLine(options.HttpRedirectPort is int redirect
                    ? $"plain HTTP on port {redirect} is redirected (308) to https (certificate {certificate!.Subject}, expires {certificate.NotAfter.ToUniversalTime():u})"
                    : $"plain HTTP is not served (certificate {certificate!.Subject}, expires {certificate.NotAfter.ToUniversalTime():u})");
        });
        app.Run();
        service.Stop();
        Console.WriteLine($"stopped: checkpoint at sample {service.Snapshot.CheckpointSample}");
        return 0;
    }
}
