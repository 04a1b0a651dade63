using System.Net;
using System.Text;
using System.Text.Json;
using Engine.Nn;
using Engine.Serialization;
using Examples.Serving;

namespace Engine.Tests.Serving;

/// <summary>Every endpoint of the serve command and every refusal, in process (ASP.NET Core's test server).</summary>
public sealed class ServeEndpointTests
{
    private static async Task<long> Position(ServeTestHost host) =>
        (await host.Json(await host.Get("/metrics"))).GetProperty("stream_position").GetInt64();

    [Fact]
    public async Task Predict_gives_a_label_and_probabilities_per_sample()
    {
        await using var host = await ServeTestHost.Start();
        var response = await host.Post("/predict", ServeTestHost.PredictBody(1, 3), token: "");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var predictions = (await host.Json(response)).GetProperty("predictions").EnumerateArray().ToList();
        Assert.Equal(3, predictions.Count);
        foreach (var p in predictions)
        {
            var probabilities = p.GetProperty("probabilities").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(10, probabilities.Length);
            Assert.Equal(1.0, probabilities.Sum(), 5);
            Assert.Equal(Array.IndexOf(probabilities, probabilities.Max()), p.GetProperty("label").GetInt32());
        }
    }

    [Fact]
    public async Task Learn_replies_with_the_predictions_made_before_learning_and_the_metrics_count_the_samples()
    {
        await using var host = await ServeTestHost.Start();
        var fresh = await host.Json(await host.Get("/metrics"));
        Assert.Equal(JsonValueKind.Null, fresh.GetProperty("progressive_accuracy").ValueKind); // no sample yet: undefined
        string body = ServeTestHost.LearnBody(2, 4);
        var before = (await host.Json(await host.Post("/predict", body.Replace(",\"labels\":", ",\"ignored\":").Split(",\"ignored\":")[0] + "}", token: "")))
            .GetProperty("predictions")[0].GetProperty("probabilities")[0].GetDouble();
        var response = await host.Post("/learn", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await host.Json(response);
        Assert.Equal(4, json.GetProperty("learned").GetInt32());
        Assert.Equal(0, json.GetProperty("first_sample").GetInt64());
        var first = json.GetProperty("predictions")[0];
        Assert.Equal(before, first.GetProperty("probabilities")[0].GetDouble(), 6); // sample 0: the model before any learning
        Assert.True(first.TryGetProperty("correct", out _));
        var second = await host.Json(await host.Post("/learn", ServeTestHost.LearnBody(3, 2)));
        Assert.Equal(4, second.GetProperty("first_sample").GetInt64());
        var metrics = await host.Json(await host.Get("/metrics"));
        Assert.Equal(6, metrics.GetProperty("samples_learned").GetInt64());
        Assert.Equal(6, metrics.GetProperty("stream_position").GetInt64());
        Assert.InRange(metrics.GetProperty("progressive_accuracy").GetDouble(), 0, 1);
        Assert.True(metrics.GetProperty("log_fsyncs").GetInt64() >= 1);
    }

    [Theory]
    [InlineData("", "missing")]
    [InlineData("wrong-token-1234", "same length")]
    [InlineData("x", "shorter")]
    public async Task Learn_checkpoint_and_model_refuse_a_missing_or_wrong_token_and_change_nothing(string token, string _)
    {
        await using var host = await ServeTestHost.Start();
        var learn = await host.Post("/learn", ServeTestHost.LearnBody(1, 2), token);
        Assert.Equal(HttpStatusCode.Unauthorized, learn.StatusCode);
        Assert.Contains("Bearer", learn.Headers.WwwAuthenticate.ToString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Post("/checkpoint", "{}", token)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Get("/model", token)).StatusCode);
        Assert.Equal(0, await Position(host));
        Assert.False(File.Exists(Path.Combine(host.Options.StateDir, "checkpoint.safetensors")));
    }

    public static IEnumerable<object[]> BadLearns()
    {
        string row = string.Join(",", Enumerable.Repeat("0.5", 784));
        string RowWith(int at, string value) => string.Join(",", Enumerable.Range(0, 784).Select(i => i == at ? value : "0.5"));
        return new[]
        {
            new object[] { "not json", "not valid JSON" },
            new object[] { "[1, 2]", "must be a JSON object" },
            new object[] { $"{{\"features\": [[{row}], [0.5, 0.5]], \"labels\": [1, 2]}}", "sample 1 has 2 features; the model takes 784" },
            new object[] { $"{{\"features\": [[{row}], [{RowWith(17, "\"NaN\"")}]], \"labels\": [1, 2]}}", "sample 1, feature 17 is a string (NaN), not a number" },
            new object[] { $"{{\"features\": [[{RowWith(3, "1e39")}]], \"labels\": [1]}}", "sample 0, feature 3 is 1e39: not a finite float32" },
            new object[] { $"{{\"features\": [[{row}], [{row}]], \"labels\": [1, 10]}}", "label of sample 1 is 10, outside [0, 10)" },
            new object[] { $"{{\"features\": [[{row}], [{row}]], \"labels\": [1, 2.5]}}", "label of sample 1 is 2.5, not a whole number" },
            new object[] { $"{{\"features\": [[{row}], [{row}]], \"labels\": [1]}}", "2 samples in \"features\" but 1 labels" },
            new object[] { $"{{\"features\": [[{row}]]}}", "missing \"labels\"" },
            new object[] { $"{{\"features\": [], \"labels\": []}}", "holds no samples" },
            new object[] { $"{{\"features\": [[{row}]], \"label\": [1]}}", "unknown field 'label'" },
            new object[] { $"{{\"features\": [[{row}]], \"targets\": [1]}}", "it is a classifier (send \"labels\")" },
            new object[] { $"{{\"features\": [[{RowWith(5, "1e38")}]], \"labels\": [1]}}", "sample 0, feature 5 is 1e38: beyond ±1000000 (--max-abs-feature)" },
            new object[] { $"{{\"features\": [[{row}], [{RowWith(783, "-2e6")}]], \"labels\": [1, 2]}}", "sample 1, feature 783 is -2e6: beyond ±1000000" },
            new object[] { $"{{\"features\": [[{row}]], \"labels\": [1], \"labels\": [2]}}", "duplicate key 'labels'" },
            new object[] { $"{{\"features\": [[{row}]], \"features\": [[{row}]], \"labels\": [1]}}", "duplicate key 'features'" },
            new object[] { $"{{\"features\": [[{row}]], \"labels\": [1]}} {{\"labels\": [2]}}", "data after the closing brace" },
            new object[] { $"{{\"features\": [[{row}]], \"labels\": [1]}}x", "data after the closing brace" },
        };
    }

    [Theory]
    [MemberData(nameof(BadLearns))]
    public async Task A_bad_learn_gets_400_naming_the_problem_and_nothing_of_it_is_learned(string body, string expected)
    {
        await using var host = await ServeTestHost.Start();
        var response = await host.Post("/learn", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, (await host.Json(response)).GetProperty("error").GetString());
        Assert.Equal(0, await Position(host));
        var log = Directory.GetFiles(Path.Combine(host.Options.StateDir, "log"));
        Assert.All(log, f => Assert.Equal(0, new FileInfo(f).Length));
    }

    [Fact]
    public async Task Predict_refuses_labels_and_a_body_over_the_limit_gets_413()
    {
        await using var host = await ServeTestHost.Start();
        var labelled = await host.Post("/predict", ServeTestHost.LearnBody(1, 1), token: "");
        Assert.Equal(HttpStatusCode.BadRequest, labelled.StatusCode);
        Assert.Contains("'labels' belongs in /learn", (await host.Json(labelled)).GetProperty("error").GetString());
        var huge = await host.Post("/learn", ServeTestHost.LearnBody(1, 300));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.Contains("limit", (await host.Json(huge)).GetProperty("error").GetString());
        Assert.Equal(0, await Position(host));
    }

    [Fact]
    public async Task Metrics_come_as_json_or_prometheus_text_and_health_answers()
    {
        await using var host = await ServeTestHost.Start();
        await host.Post("/learn", ServeTestHost.LearnBody(5, 3));
        var text = await (await host.Get("/metrics", accept: "text/plain")).Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.Contains("# TYPE engine_samples_learned_total counter\nengine_samples_learned_total 3\n", text);
        Assert.Contains("engine_window_accuracy ", text);
        Assert.Equal(text.Split('\n')[0], (await (await host.Get("/metrics/prometheus")).Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Split('\n')[0]);
        var health = await host.Json(await host.Get("/health", token: ""));
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal(3, health.GetProperty("samples").GetInt64());
    }

    [Fact]
    public async Task Checkpoint_saves_now_and_the_model_downloads_as_safetensors_that_load_into_the_mlp()
    {
        await using var host = await ServeTestHost.Start();
        await host.Post("/learn", ServeTestHost.LearnBody(6, 5));
        var checkpoint = await host.Json(await host.Post("/checkpoint", "{}"));
        Assert.Equal(5, checkpoint.GetProperty("checkpoint_sample").GetInt64());
        Assert.True(File.Exists(Path.Combine(host.Options.StateDir, "checkpoint.safetensors")));
        var response = await host.Get("/model");
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType!.MediaType);
        var file = SafeTensors.Deserialize(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal(new[] { "0.bias", "0.weight", "2.bias", "2.weight" }, file.Tensors.Keys.Order(StringComparer.Ordinal));
        using var model = new Sequential(new Linear(TestDevice.Instance, 784, 256), new Relu(), new Linear(TestDevice.Instance, 256, 10));
        model.LoadStateDict(file.Tensors);
        Assert.Equal(5, host.Service.Snapshot.StreamPosition);
    }

    [Fact]
    public async Task A_regression_model_from_a_file_learns_targets()
    {
        var dev = TestDevice.Instance;
        string path = Path.Combine(Directory.CreateTempSubdirectory("engine-serve-model-").FullName, "reg.safetensors");
        using (var model = new Sequential(new Linear(dev, 3, 4, seed: 1), new Relu(), new Linear(dev, 4, 2, seed: 2)))
            model.Save(path);
        await using var host = await ServeTestHost.Start(configure: o => o with { ModelPath = path, Task = "regress", Lr = 0.01f });
        Assert.Equal((3, 2), (host.Service.InputCount, host.Service.OutputCount));
        var response = await host.Post("/learn", "{\"features\": [[1, 2, 3], [0, 1, 0]], \"targets\": [[0.5, 1], [1, 2]]}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var outputs = (await host.Json(response)).GetProperty("predictions")[1].GetProperty("outputs");
        Assert.Equal(2, outputs.GetArrayLength());
        var flat = await host.Post("/learn", "{\"features\": [[1, 2, 3]], \"targets\": [0.5]}");
        Assert.Contains("each target must be an array of 2", (await host.Json(flat)).GetProperty("error").GetString());
        var predict = await host.Json(await host.Post("/predict", "{\"features\": [[1, 2, 3]]}", token: ""));
        Assert.Equal(2, predict.GetProperty("predictions")[0].GetProperty("outputs").GetArrayLength());
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task A_body_not_sent_as_application_json_gets_415_with_a_message(string contentType)
    {
        await using var host = await ServeTestHost.Start();
        foreach (var path in new[] { "/learn", "/predict" })
        {
            var response = await host.Post(path, ServeTestHost.LearnBody(1, 1), contentType: contentType);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
            Assert.Contains("application/json", (await host.Json(response)).GetProperty("error").GetString());
        }
        // StringContent sends "application/json; charset=utf-8": parameters are fine.
        Assert.Equal(HttpStatusCode.OK, (await host.Post("/learn", ServeTestHost.LearnBody(1, 1))).StatusCode);
        Assert.Equal(1, await Position(host));
    }

    [Fact]
    public async Task Predict_with_features_of_3e38_gets_400_naming_the_feature_and_a_model_that_overflows_gets_422_never_an_empty_500()
    {
        string huge = "{\"features\": [[" + string.Join(",", Enumerable.Repeat("3e38", 784)) + "]]}";
        await using (var host = await ServeTestHost.Start())
        {
            var response = await host.Post("/predict", huge, token: "");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("sample 0, feature 0 is 3e38: beyond ±1000000", (await host.Json(response)).GetProperty("error").GetString());
        }
        await using (var host = await ServeTestHost.Start(configure: o => o with { MaxAbsFeature = float.MaxValue }))
        {
            var response = await host.Post("/predict", huge, token: "");
            Assert.Equal((HttpStatusCode)422, response.StatusCode);
            Assert.Contains("not finite", (await host.Json(response)).GetProperty("error").GetString());
            Assert.Equal(HttpStatusCode.OK, (await host.Post("/predict", ServeTestHost.PredictBody(1, 2), token: "")).StatusCode);
        }
    }

    [Fact]
    public async Task A_learn_whose_step_overflows_the_weights_is_rolled_back_also_on_restart_and_the_model_is_one_that_never_saw_it()
    {
        string bad = "{\"features\": [[" + string.Join(",", Enumerable.Repeat("1e38", 784)) + "]], \"labels\": [3]}";
        string state = Directory.CreateTempSubdirectory("engine-serve-").FullName;
        Func<ServeOptions, ServeOptions> unbounded = o => o with { MaxAbsFeature = float.MaxValue };
        byte[] model;
        await using (var host = await ServeTestHost.Start(state, unbounded))
        {
            Assert.Equal(HttpStatusCode.OK, (await host.Post("/learn", ServeTestHost.LearnBody(1, 2))).StatusCode);
            var rejected = await host.Json(await host.Post("/learn", bad));
            Assert.Equal(0, rejected.GetProperty("learned").GetInt32());
            Assert.Equal(1, rejected.GetProperty("diverged").GetInt32());
            var after = await host.Json(await host.Post("/learn", ServeTestHost.LearnBody(2, 3)));
            Assert.Equal(3, after.GetProperty("learned").GetInt32());
            Assert.Equal(0, after.GetProperty("diverged").GetInt32());
            Assert.Equal(3, after.GetProperty("first_sample").GetInt64());
            Assert.Equal(HttpStatusCode.OK, (await host.Post("/predict", ServeTestHost.PredictBody(3, 2), token: "")).StatusCode);
            var metrics = await host.Json(await host.Get("/metrics"));
            Assert.Equal(1, metrics.GetProperty("rejected_learns").GetInt64());
            Assert.Equal(5, metrics.GetProperty("samples_learned").GetInt64());
            Assert.Equal(6, metrics.GetProperty("stream_position").GetInt64());
            model = await (await host.Get("/model")).Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        }
        await using (var twin = await ServeTestHost.Start())
        {
            await twin.Post("/learn", ServeTestHost.LearnBody(1, 2));
            await twin.Post("/learn", ServeTestHost.LearnBody(2, 3));
            Assert.Equal(model, await (await twin.Get("/model")).Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        }
        // The bad learn is in the log (it was durable before it was applied): the replay rejects it the same way.
        await using (var restarted = await ServeTestHost.Start(state, unbounded))
        {
            Assert.Equal(model, await (await restarted.Get("/model")).Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
            Assert.Equal(HttpStatusCode.OK, (await restarted.Post("/learn", ServeTestHost.LearnBody(4, 1))).StatusCode);
        }
    }

    [Fact]
    public async Task A_checkpoint_that_cannot_be_written_answers_507_keeps_the_previous_one_and_the_log_and_the_server_goes_on()
    {
        bool diskFull = false;
        string state = Directory.CreateTempSubdirectory("engine-serve-").FullName;
        void Fail(string _)
        {
            if (diskFull) throw new IOException("No space left on device");
        }
        await using (var host = await ServeTestHost.Start(state, o => o with { CheckpointEvery = 4 }, Fail))
        {
            await host.Post("/learn", ServeTestHost.LearnBody(1, 2));
            Assert.Equal(2, (await host.Json(await host.Post("/checkpoint", "{}"))).GetProperty("checkpoint_sample").GetInt64());
            string checkpoint = Path.Combine(state, "checkpoint.safetensors");
            var saved = File.ReadAllBytes(checkpoint);
            diskFull = true;
            for (int i = 0; i < 4; i++) // passes --checkpoint-every twice: the automatic checkpoints fail too
                Assert.Equal(HttpStatusCode.OK, (await host.Post("/learn", ServeTestHost.LearnBody(10 + i, 2))).StatusCode);
            var refused = await host.Post("/checkpoint", "{}");
            Assert.Equal(HttpStatusCode.InsufficientStorage, refused.StatusCode);
            string error = (await host.Json(refused)).GetProperty("error").GetString()!;
            Assert.Contains("No space left on device", error);
            Assert.Contains("previous checkpoint (sample 2)", error);
            Assert.Equal(saved, File.ReadAllBytes(checkpoint));
            var metrics = await host.Json(await host.Get("/metrics"));
            Assert.True(metrics.GetProperty("checkpoint_failures").GetInt64() >= 2);
            Assert.Equal("No space left on device", metrics.GetProperty("last_checkpoint_error").GetString());
            Assert.Equal(2, metrics.GetProperty("checkpoint_sample").GetInt64());
            Assert.Equal(HttpStatusCode.OK, (await host.Post("/predict", ServeTestHost.PredictBody(1, 1), token: "")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await host.Post("/learn", ServeTestHost.LearnBody(20, 1))).StatusCode);
            diskFull = false;
            Assert.Equal(11, (await host.Json(await host.Post("/checkpoint", "{}"))).GetProperty("checkpoint_sample").GetInt64());
            diskFull = true; // the shutdown checkpoint fails as well: the log still has what came after
            await host.Post("/learn", ServeTestHost.LearnBody(21, 3));
        }
        await using var restarted = await ServeTestHost.Start(state);
        var recovered = await restarted.Json(await restarted.Get("/metrics"));
        Assert.Equal(14, recovered.GetProperty("stream_position").GetInt64());
        Assert.Equal(11, recovered.GetProperty("checkpoint_sample").GetInt64());
        Assert.Equal(3, recovered.GetProperty("replayed_samples").GetInt64());
    }
}
