using System.Net;
using System.Text.Json;
using Examples.Serving;

namespace Engine.Tests.Serving;

/// <summary>Many clients at once: no lost or interleaved learns, and the model is the sequential replay of the log.</summary>
public sealed class ServeConcurrencyTests
{
    [Fact]
    public async Task Concurrent_learns_are_each_applied_whole_in_one_order_that_the_log_replays_to_the_same_model()
    {
        string state = Directory.CreateTempSubdirectory("engine-serve-conc-").FullName;
        string copy = Directory.CreateTempSubdirectory("engine-serve-replay-").FullName;
        const int clients = 8, requestsEach = 12, rows = 3;
        var sent = new List<string>();
        byte[] liveModel;
        await using (var host = await ServeTestHost.Start(state, o => o with { CheckpointEvery = 1_000_000 }))
        {
            var tasks = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
            {
                for (int r = 0; r < requestsEach; r++)
                {
                    string body = ServeTestHost.LearnBody(1000 * c + r, rows);
                    lock (sent) sent.Add(body);
                    var learn = host.Post("/learn", body);
                    var predict = host.Post("/predict", ServeTestHost.PredictBody(c, 2), token: "");
                    Assert.Equal(HttpStatusCode.OK, (await learn).StatusCode);
                    Assert.Equal(HttpStatusCode.OK, (await predict).StatusCode);
                }
            })).ToArray();
            await Task.WhenAll(tasks);
            var metrics = await host.Json(await host.Get("/metrics"));
            Assert.Equal(clients * requestsEach * rows, metrics.GetProperty("samples_learned").GetInt64());
            Assert.Equal(clients * requestsEach * 2, metrics.GetProperty("predictions").GetInt64());
            Assert.True(metrics.GetProperty("log_fsyncs").GetInt64() <= clients * requestsEach);
            liveModel = await (await host.Get("/model")).Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            // Every acknowledged learn is in the log now: copy it (no checkpoint) for a server that must replay it all.
            Directory.CreateDirectory(Path.Combine(copy, "log"));
            foreach (var f in Directory.GetFiles(Path.Combine(state, "log")))
                File.Copy(f, Path.Combine(copy, "log", Path.GetFileName(f)));
        }
        using (var log = LearnLog.Open(Path.Combine(copy, "log")))
        {
            var records = log.Replay(0).ToList();
            Assert.Equal(clients * requestsEach, records.Count); // one record per request: never split or merged
            var bodies = sent.Select(b => JsonDocument.Parse(b).RootElement.GetProperty("labels").EnumerateArray()
                .Select(v => v.GetInt32()).ToArray()).ToList();
            foreach (var r in records) Assert.Equal(rows, r.Samples.Count);
            Assert.Equal(bodies.Select(b => string.Join(",", b)).Order(),
                records.Select(r => string.Join(",", r.Samples.Labels!)).Order());
        }
        await using var replay = await ServeTestHost.Start(copy);
        Assert.Equal(clients * requestsEach * rows, replay.Service.Snapshot.ReplayedSamples);
        var replayedModel = await (await replay.Get("/model")).Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        Assert.Equal(liveModel, replayedModel);
    }

    [Fact]
    public async Task Predictions_queued_together_share_one_forward_pass_and_each_gets_its_own_rows()
    {
        await using var host = await ServeTestHost.Start();
        await host.Post("/learn", ServeTestHost.LearnBody(1, 2));
        var busy = host.Service.CheckpointAsync(); // the worker writes a checkpoint while the predictions queue up
        var bodies = Enumerable.Range(0, 40).Select(i => RequestParser.Parse(System.Text.Encoding.UTF8.GetBytes(
            ServeTestHost.PredictBody(i, 1 + i % 2)), 784, 10, classification: true, needAnswers: false)).ToList();
        var answers = bodies.Select(host.Service.PredictAsync).ToList();
        await busy;
        var results = await Task.WhenAll(answers);
        for (int i = 0; i < bodies.Count; i++) Assert.Equal(bodies[i].Count, results[i].Length);
        var one = await host.Service.PredictAsync(bodies[7]); // alone, the same rows give the same answer
        for (int r = 0; r < one.Length; r++) Assert.Equal(one[r].Label, results[7][r].Label);
        await host.Get("/health");
        long batches = (await host.Json(await host.Get("/metrics"))).GetProperty("predict_batches").GetInt64();
        Assert.True(batches <= 10, $"{bodies.Count + 1} prediction requests took {batches} forward passes");
    }
}
