using System.Net;
using System.Text;
using Engine.Nn;
using Engine.Serialization;

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
}
