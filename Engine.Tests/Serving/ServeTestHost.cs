using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Examples.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;

namespace Engine.Tests.Serving;

/// <summary>The serve command's app and service in this process, on ASP.NET Core's test server, with a temporary state folder.</summary>
public sealed class ServeTestHost : IAsyncDisposable
{
    public const string Token = "test-token-1234";

    private ServeTestHost(ServeOptions options, OnlineLearningService service, WebApplication app)
    {
        Options = options;
        Service = service;
        App = app;
        Client = app.GetTestClient();
    }

    public ServeOptions Options { get; }
    public OnlineLearningService Service { get; }
    public WebApplication App { get; }
    public HttpClient Client { get; }

    /// <param name="beforeCheckpointWrite">the service's checkpoint seam: throw from it to make a checkpoint write fail.</param>
    public static async Task<ServeTestHost> Start(string? stateDir = null, Func<ServeOptions, ServeOptions>? configure = null,
        Action<string>? beforeCheckpointWrite = null)
    {
        var options = new ServeOptions
        {
            Token = Token, Device = TestDevice.Instance.Kind, StateDir = stateDir ?? Directory.CreateTempSubdirectory("engine-serve-").FullName,
            MaxBodyBytes = 1 << 20,
        };
        if (configure != null) options = configure(options);
        var service = new OnlineLearningService(options, beforeCheckpointWrite);
        var app = ServeApp.Create(options, service, b => b.WebHost.UseTestServer());
        await app.StartAsync();
        return new ServeTestHost(options, service, app);
    }

    /// <summary>POSTs JSON, with the token unless <paramref name="token"/> says otherwise ("" for none).</summary>
    public Task<HttpResponseMessage> Post(string path, string json, string? token = Token, string contentType = "application/json") =>
        Send(HttpMethod.Post, path, new StringContent(json, Encoding.UTF8, contentType), token);

    public Task<HttpResponseMessage> Get(string path, string? token = Token, string? accept = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (!string.IsNullOrEmpty(token)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (accept != null) request.Headers.Accept.ParseAdd(accept);
        return Client.SendAsync(request);
    }

    private Task<HttpResponseMessage> Send(HttpMethod method, string path, HttpContent content, string? token)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        if (!string.IsNullOrEmpty(token)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return Client.SendAsync(request);
    }

    public async Task<JsonElement> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        Service.Dispose();
    }

    /// <summary>A learn body: rows of MNIST-sized features (seeded) and their labels.</summary>
    public static string LearnBody(int seed, int rows, int features = 784)
    {
        var rng = new Random(seed);
        var x = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, features).Select(_ => Math.Round(rng.NextDouble(), 4)).ToArray()).ToArray();
        var labels = Enumerable.Range(0, rows).Select(_ => rng.Next(10)).ToArray();
        return JsonSerializer.Serialize(new { features = x, labels });
    }

    public static string PredictBody(int seed, int rows, int features = 784)
    {
        var rng = new Random(seed);
        return JsonSerializer.Serialize(new
        {
            features = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, features).Select(_ => Math.Round(rng.NextDouble(), 4)).ToArray()),
        });
    }
}
