using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Examples.Serving;

/// <summary>
/// The HTTP face of <see cref="OnlineLearningService"/> on ASP.NET Core minimal APIs: <c>POST /predict</c>,
/// <c>POST /learn</c>, <c>GET /metrics</c> (JSON, or Prometheus text with <c>Accept: text/plain</c> or at
/// <c>/metrics/prometheus</c>), <c>GET /health</c>, <c>POST /checkpoint</c> and <c>GET /model</c> (safetensors).
/// /learn, /checkpoint and /model need <c>Authorization: Bearer &lt;token&gt;</c>, compared in constant time (of
/// SHA-256 digests, so not even the length leaks). Errors are JSON <c>{"error": "…"}</c> with 400 (bad request, naming
/// the sample), 401, 413 (body over the limit), 415 (a body that is not <c>application/json</c>), 422 (features this model
/// cannot predict finitely), 503 (shutting down, or the log could not be written), 507 (the checkpoint could not be
/// written) or 500 (a bug: the exception's message; never an empty body).
/// </summary>
public static class ServeApp
{
    /// <param name="configure">e.g. <c>b => b.WebHost.UseTestServer()</c> for in-process tests.</param>
    /// <param name="certificate">the TLS certificate with its key when <see cref="ServeOptions.Https"/> (<see cref="ServeTls.LoadCertificate"/>).</param>
    public static WebApplication Create(ServeOptions options, OnlineLearningService service,
        Action<WebApplicationBuilder>? configure = null, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        if (options.Https && certificate == null)
            throw new ArgumentException("serve: --https without a certificate (ServeTls.LoadCertificate).", nameof(certificate));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        string port = options.Port.ToString(CultureInfo.InvariantCulture);
        if (options.Https)
        {
            // The certificate is loaded by ServeJob before anything else starts (a bad one is an error naming the file).
            var urls = new List<string> { $"https://{options.Host}:{port}" };
            if (options.HttpRedirectPort is int redirect)
                urls.Add($"http://{options.Host}:{redirect.ToString(CultureInfo.InvariantCulture)}");
            builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves HTTPS out until asked
            builder.WebHost.UseUrls(urls.ToArray());
            builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(h => h.ServerCertificate = certificate));
        }
        else builder.WebHost.UseUrls($"http://{options.Host}:{port}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxBodyBytes);
        configure?.Invoke(builder);
        var app = builder.Build();
        var tokenHash = SHA256.HashData(Encoding.UTF8.GetBytes(options.Token));
        if (options.Https)
        {
            // Only the redirect port's listener is plain: every request there is sent to HTTPS, method and body kept (308).
            app.Use((context, next) =>
            {
                if (context.Request.IsHttps) return next(context);
                context.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
                context.Response.Headers.Location = ServeTls.RedirectTarget(context.Request.Host.Host, options.Port,
                    $"{context.Request.PathBase}{context.Request.Path}{context.Request.QueryString}");
                return Task.CompletedTask;
            });
        }

        app.MapPost("/predict", context => Handle(context, async () =>
        {
            var body = await ReadJsonBody(context, options.MaxBodyBytes);
            var samples = RequestParser.Parse(body, service.InputCount, service.OutputCount, service.Classification, needAnswers: false,
                options.MaxAbsFeature);
            var predictions = await service.PredictAsync(samples);
            await WriteJson(context, 200, w =>
            {
                w.WriteStartArray("predictions");
                foreach (var p in predictions) WritePrediction(w, p, null);
                w.WriteEndArray();
            });
        }));

        app.MapPost("/learn", context => Handle(context, async () =>
        {
            RequireToken(context, tokenHash);
            var body = await ReadJsonBody(context, options.MaxBodyBytes);
            var samples = RequestParser.Parse(body, service.InputCount, service.OutputCount, service.Classification, needAnswers: true,
                options.MaxAbsFeature);
            var outcome = await service.LearnAsync(samples);
            await WriteJson(context, 200, w =>
            {
                w.WriteNumber("learned", samples.Count - outcome.Diverged);
                w.WriteNumber("first_sample", outcome.FirstSample);
                w.WriteNumber("diverged", outcome.Diverged);
                w.WriteStartArray("predictions");
                for (int i = 0; i < outcome.Predictions.Count; i++)
                    WritePrediction(w, outcome.Predictions[i], samples.Labels?[i]);
                w.WriteEndArray();
            });
        }));

        app.MapGet("/metrics", context => Handle(context, () =>
        {
            var accept = context.Request.Headers.Accept.ToString();
            return accept.Contains("text/plain", StringComparison.OrdinalIgnoreCase) &&
                   !accept.Contains("application/json", StringComparison.OrdinalIgnoreCase)
                ? WritePrometheus(context, service.Snapshot)
                : WriteJson(context, 200, w => WriteMetrics(w, service.Snapshot));
        }));
        app.MapGet("/metrics/prometheus", context => Handle(context, () => WritePrometheus(context, service.Snapshot)));

        app.MapGet("/health", context => Handle(context, () => WriteJson(context, 200, w =>
        {
            w.WriteString("status", "ok");
            w.WriteString("device", service.DeviceDescription);
            w.WriteNumber("samples", service.Snapshot.StreamPosition);
        })));

        app.MapPost("/checkpoint", context => Handle(context, async () =>
        {
            RequireToken(context, tokenHash);
            long at = await service.CheckpointAsync();
            await WriteJson(context, 200, w => w.WriteNumber("checkpoint_sample", at));
        }));

        app.MapGet("/model", context => Handle(context, async () =>
        {
            RequireToken(context, tokenHash);
            var bytes = await service.ModelAsync();
            context.Response.ContentType = "application/octet-stream";
            context.Response.Headers.ContentDisposition = "attachment; filename=\"model.safetensors\"";
            await context.Response.Body.WriteAsync(bytes);
        }));
        return app;
    }

    private static async Task Handle(HttpContext context, Func<Task> work)
    {
        try
        {
            await work();
        }
        catch (BadRequestException e)
        {
            if (e.Status == 401) context.Response.Headers.WWWAuthenticate = "Bearer";
            await WriteJson(context, e.Status, w => w.WriteString("error", e.Message));
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e)
        {
            await WriteJson(context, e.StatusCode, w => w.WriteString("error", e.Message));
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            // A bug, but the client still learns what went wrong: never a 500 with an empty body.
            Console.Error.WriteLine($"serve: {context.Request.Method} {context.Request.Path} failed: {e}");
            await WriteJson(context, 500, w => w.WriteString("error", $"internal error ({e.GetType().Name}): {e.Message}"));
        }
    }

    private static void RequireToken(HttpContext context, byte[] tokenHash)
    {
        string header = context.Request.Headers.Authorization.ToString();
        bool ok = header.StartsWith("Bearer ", StringComparison.Ordinal) &&
                  CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(header[7..])), tokenHash);
        if (!ok) throw new BadRequestException("missing or wrong bearer token (Authorization: Bearer <token>); nothing was changed.", 401);
    }

    /// <summary>The body, after checking that it is declared JSON (415 otherwise: a form post is not a learn).</summary>
    private static Task<byte[]> ReadJsonBody(HttpContext context, int limit)
    {
        string? type = context.Request.ContentType;
        if (type == null || !System.Net.Http.Headers.MediaTypeHeaderValue.TryParse(type, out var media) ||
            !string.Equals(media.MediaType, "application/json", StringComparison.OrdinalIgnoreCase))
            throw new BadRequestException($"the body must be sent as Content-Type: application/json (got {(type == null ? "none" : $"'{type}'")}).", 415);
        return ReadBody(context, limit);
    }

    private static async Task<byte[]> ReadBody(HttpContext context, int limit)
    {
        if (context.Request.ContentLength > limit)
            throw new BadRequestException($"the body is {context.Request.ContentLength} bytes; the limit is {limit} (--max-body-bytes).", 413);
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit;
        var buffer = new MemoryStream(context.Request.ContentLength is long n ? (int)n : 4096);
        var chunk = new byte[16384];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk)) > 0)
        {
            if (buffer.Length + read > limit)
                throw new BadRequestException($"the body is over the {limit}-byte limit (--max-body-bytes).", 413);
            buffer.Write(chunk, 0, read);
        }
        return buffer.GetBuffer().AsSpan(0, (int)buffer.Length).ToArray();
    }

    private static async Task WriteJson(HttpContext context, int status, Action<Utf8JsonWriter> body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
    }

    private static void WritePrediction(Utf8JsonWriter w, Prediction? p, int? label)
    {
        w.WriteStartObject();
        if (p == null)
        {
            w.WriteBoolean("diverged", true); // its loss was NaN/∞: not learned from
        }
        else if (p.Label is int predicted)
        {
            w.WriteNumber("label", predicted);
            if (label is int truth) w.WriteBoolean("correct", truth == predicted);
            w.WriteStartArray("probabilities");
            foreach (var v in p.Values) w.WriteNumberValue(v);
            w.WriteEndArray();
        }
        else
        {
            w.WriteStartArray("outputs");
            foreach (var v in p.Values) w.WriteNumberValue(v);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void WriteMetrics(Utf8JsonWriter w, ServiceSnapshot s)
    {
        w.WriteNumber("samples_learned", s.SamplesLearned);
        w.WriteNumber("stream_position", s.StreamPosition);
        // Accuracy is undefined (NaN) before the first labelled sample and on a regression stream: JSON null.
        WriteNumberOrNull(w, "progressive_accuracy", s.ProgressiveAccuracy);
        WriteNumberOrNull(w, "window_accuracy", s.WindowAccuracy);
        w.WriteNumber("window_loss", s.WindowLoss);
        w.WriteNumber("mean_loss", s.MeanLoss);
        w.WriteNumber("drift_events", s.DriftEvents);
        w.WriteNumber("predictions", s.Predictions);
        w.WriteNumber("predict_batches", s.PredictBatches);
        w.WriteNumber("learn_rate_per_s", s.LearnRate);
        w.WriteNumber("predict_rate_per_s", s.PredictRate);
        w.WriteNumber("checkpoints", s.Checkpoints);
        w.WriteNumber("checkpoint_sample", s.CheckpointSample);
        w.WriteNumber("diverged_samples", s.DivergedSamples);
        w.WriteNumber("log_fsyncs", s.LogSyncs);
        w.WriteNumber("torn_log_records_dropped", s.TornRecordsDropped);
        w.WriteNumber("replayed_samples", s.ReplayedSamples);
        w.WriteNumber("checkpoint_failures", s.CheckpointFailures);
        if (s.LastCheckpointError != null) w.WriteString("last_checkpoint_error", s.LastCheckpointError);
        else w.WriteNull("last_checkpoint_error");
        w.WriteNumber("rejected_learns", s.RejectedLearns);
        w.WriteNumber("salvage_lost_samples", s.SalvageLostSamples);
        w.WriteNumber("queue_depth", s.QueueDepth);
        w.WriteString("device", s.Device);
        w.WriteNumber("uptime_s", s.UptimeSeconds);
    }

    private static void WriteNumberOrNull(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    /// <summary>Prometheus text exposition format 0.0.4 (an undefined accuracy is written NaN, as the format allows).</summary>
    private static Task WritePrometheus(HttpContext context, ServiceSnapshot s)
    {
        var text = new StringBuilder();
        void Metric(string name, string type, string help, double value)
        {
            text.Append("# HELP engine_").Append(name).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE engine_").Append(name).Append(' ').Append(type).Append('\n');
            text.Append("engine_").Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }
        Metric("samples_learned_total", "counter", "Samples learned from (acknowledged and applied).", s.SamplesLearned);
        Metric("progressive_accuracy", "gauge", "Accuracy of predictions made before learning, over all samples.", s.ProgressiveAccuracy);
        Metric("window_accuracy", "gauge", "Progressive accuracy over the last 500 samples.", s.WindowAccuracy);
        Metric("window_loss", "gauge", "Mean progressive loss over the last 500 samples.", s.WindowLoss);
        Metric("drift_events_total", "counter", "Concept drifts detected (Page-Hinkley on the loss).", s.DriftEvents);
        Metric("predictions_total", "counter", "Samples predicted through /predict.", s.Predictions);
        Metric("predict_batches_total", "counter", "Forward passes that answered /predict (queued requests share one).", s.PredictBatches);
        Metric("learn_rate", "gauge", "Samples learned per second over the last 10 s.", s.LearnRate);
        Metric("predict_rate", "gauge", "Samples predicted per second over the last 10 s.", s.PredictRate);
        Metric("checkpoints_total", "counter", "Checkpoints saved since start.", s.Checkpoints);
        Metric("diverged_samples_total", "counter", "Learned samples whose loss was NaN/inf (step skipped).", s.DivergedSamples);
        Metric("log_fsyncs_total", "counter", "fsyncs of the learn log (one per group of learns).", s.LogSyncs);
        Metric("checkpoint_failures_total", "counter", "Checkpoints that could not be written (the previous one and the log kept).", s.CheckpointFailures);
        Metric("rejected_learns_total", "counter", "Learns rolled back because their step made a weight NaN/inf.", s.RejectedLearns);
        Metric("queue_depth", "gauge", "Requests waiting for the worker.", s.QueueDepth);
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        return context.Response.WriteAsync(text.ToString());
    }
}
