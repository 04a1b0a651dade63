using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Engine.Tests.Serving;

/// <summary>
/// <c>serve --https --cert --key</c> as a real process, with a self-signed certificate for 127.0.0.1 made here
/// (<see cref="CertificateRequest"/> → PEM files): a client that trusts exactly that certificate learns and predicts
/// over HTTPS, one that does not is refused by its own validation, plain HTTP is not served (or is answered 308 to
/// https with <c>--http-redirect</c>), and certificates that do not load stop the start with an error naming the file.
/// </summary>
public sealed class ServeTlsTests : IDisposable
{
    private const string Token = "tls-test-token";
    private readonly string folder = Directory.CreateTempSubdirectory("engine-serve-tls-").FullName;
    private readonly List<Process> processes = new();

    public void Dispose()
    {
        foreach (var p in processes)
        {
            if (!p.HasExited) p.Kill();
            p.Dispose();
        }
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>A self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost, valid for a day, and its key, as PEM files.</summary>
    private (string Cert, string Key, X509Certificate2 Certificate) MakeCertificate(string name = "server")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=tensorwright-test", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false)); // server authentication
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string certPath = Path.Combine(folder, name + "-cert.pem"), keyPath = Path.Combine(folder, name + "-key.pem");
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath, X509CertificateLoader.LoadCertificate(certificate.RawData));
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>A client whose only trusted root is <paramref name="trusted"/> (and which checks the host name as usual).</summary>
    private static HttpClient TrustingClient(X509Certificate2 trusted, int port) => new(new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate == null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(trusted);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
            },
        },
    })
    {
        BaseAddress = new Uri($"https://127.0.0.1:{port}"),
        Timeout = TimeSpan.FromSeconds(60),
        DefaultRequestHeaders = { Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token) },
    };

    private async Task<(Process Process, StringBuilder Output)> StartHttps(int port, X509Certificate2 trusted, string cert, string key,
        params string[] more)
    {
        var p = ExamplesProcess.Start("serve", ["--https", "--cert", cert, "--key", key, "--port", port.ToString(), "--token", Token,
            "--state", Path.Combine(folder, $"state-{port}"), .. more]);
        processes.Add(p);
        var output = new StringBuilder();
        p.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var client = TrustingClient(trusted, port);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(p.HasExited, $"serve exited early: {output}");
            try
            {
                if ((await client.GetAsync("/health", TestContext.Current.CancellationToken)).IsSuccessStatusCode) break;
            }
            catch (HttpRequestException)
            {
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"serve did not answer /health over HTTPS in 60 s: {output}");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        return (p, output);
    }

    [Fact]
    public async Task Https_learns_and_predicts_for_a_client_that_trusts_the_certificate_and_plain_http_is_not_served()
    {
        var (cert, key, certificate) = MakeCertificate();
        int port = FreePort();
        var (_, output) = await StartHttps(port, certificate, cert, key);
        var ct = TestContext.Current.CancellationToken;
        using var client = TrustingClient(certificate, port);
        var learn = await client.PostAsync("/learn", new StringContent(ServeTestHost.LearnBody(1, 3), Encoding.UTF8, "application/json"), ct);
        Assert.Equal(HttpStatusCode.OK, learn.StatusCode);
        Assert.Contains("\"learned\":3", await learn.Content.ReadAsStringAsync(ct));
        var predict = await client.PostAsync("/predict", new StringContent(ServeTestHost.PredictBody(2, 2), Encoding.UTF8, "application/json"), ct);
        Assert.Equal(HttpStatusCode.OK, predict.StatusCode);
        Assert.Contains("\"predictions\"", await predict.Content.ReadAsStringAsync(ct));
        Assert.Contains($"serving on https://127.0.0.1:{port}", output.ToString());
        Assert.Contains("plain HTTP is not served", output.ToString());

        // A client that does not trust the self-signed certificate refuses the connection itself.
        using (var untrusting = new HttpClient { BaseAddress = new Uri($"https://127.0.0.1:{port}") })
        {
            var e = await Assert.ThrowsAsync<HttpRequestException>(() => untrusting.GetAsync("/health", ct));
            Assert.IsType<System.Security.Authentication.AuthenticationException>(e.InnerException);
        }
        // Plain HTTP to the HTTPS port gets no HTTP answer: the connection is closed without a response.
        using (var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) })
            await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync("/health", ct));
    }

    [Fact]
    public async Task With_http_redirect_plain_http_is_answered_308_to_https()
    {
        var (cert, key, certificate) = MakeCertificate();
        int port = FreePort(), redirect = FreePort();
        var (_, output) = await StartHttps(port, certificate, cert, key, "--http-redirect", redirect.ToString());
        Assert.Contains($"plain HTTP on port {redirect} is redirected (308)", output.ToString());
        var ct = TestContext.Current.CancellationToken;
        using var plain = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false })
            { BaseAddress = new Uri($"http://127.0.0.1:{redirect}") };
        var r = await plain.PostAsync("/learn?x=1", new StringContent(ServeTestHost.LearnBody(1, 1), Encoding.UTF8, "application/json"), ct);
        Assert.Equal(HttpStatusCode.PermanentRedirect, r.StatusCode);
        Assert.Equal(new Uri($"https://127.0.0.1:{port}/learn?x=1"), r.Headers.Location);
        // Following it (as a client that trusts the certificate) lands on the HTTPS service, the POST kept a POST.
        using var client = TrustingClient(certificate, port);
        var learn = await client.PostAsync(r.Headers.Location, new StringContent(ServeTestHost.LearnBody(1, 1), Encoding.UTF8, "application/json"), ct);
        Assert.Equal(HttpStatusCode.OK, learn.StatusCode);
    }

    [Fact]
    public void Certificates_that_do_not_load_stop_the_start_naming_the_file()
    {
        var (cert, key, _) = MakeCertificate();
        var (_, otherKey, _) = MakeCertificate("other");
        string garbage = Path.Combine(folder, "garbage.pem"), missing = Path.Combine(folder, "missing.pem");
        File.WriteAllText(garbage, "not a certificate\n");
        (int, string, string) Serve(params string[] options) => ExamplesProcess.RunAsGiven(["serve", "--token", Token,
            "--state", Path.Combine(folder, "never"), "--port", FreePort().ToString(), .. options]);
        void Refused((int ExitCode, string Stdout, string Stderr) run, params string[] parts)
        {
            Assert.Equal(2, run.ExitCode);
            foreach (var part in parts) Assert.Contains(part, run.Stderr);
            Assert.DoesNotContain("Unhandled exception", run.Stderr);
            Assert.DoesNotContain("   at ", run.Stderr);
        }
        Refused(Serve("--https", "--cert", missing, "--key", key), "certificate (--cert)", missing, "no such file");
        Refused(Serve("--https", "--cert", cert, "--key", missing), "private key (--key)", missing, "no such file");
        Refused(Serve("--https", "--cert", garbage, "--key", key), "certificate (--cert)", garbage, "no PEM certificate");
        Refused(Serve("--https", "--cert", cert, "--key", garbage), "private key (--key)", garbage);
        Refused(Serve("--https", "--cert", cert, "--key", otherKey), "private key (--key)", otherKey, "does not match");
        Refused(Serve("--https", "--cert", cert), "--https needs --cert", "--key");
        Refused(Serve("--cert", cert, "--key", key), "add --https");
        Assert.False(Directory.Exists(Path.Combine(folder, "never")), "a refused start created its state folder");
    }
}
