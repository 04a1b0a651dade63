using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Examples.Serving;

/// <summary>
/// TLS for <c>serve</c>: the <c>--https --cert FILE.pem --key FILE.pem</c> options' checks and the certificate, loaded
/// with <see cref="X509Certificate2.CreateFromPemFile"/> for Kestrel's HTTPS. With <c>--https</c> the service speaks
/// only HTTPS on <c>--port</c>; plain HTTP is not served at all (a plain request to the HTTPS port fails its handshake and
/// the connection is closed) unless <c>--http-redirect PORT</c> is given, where a plain listener answers every request
/// with 308 Permanent Redirect to the same path on https://…:port (308, not 301, so a POST stays a POST with its body).
/// </summary>
public static class ServeTls
{
    /// <summary>
    /// Checks that the TLS options go together: --cert and --key with --https, both given; a redirect port only with
    /// --https and not the HTTPS port.
    /// </summary>
    /// <exception cref="ArgumentException">naming the option at fault.</exception>
    public static void CheckOptions(ServeOptions options)
    {
        if (!options.Https)
        {
            if (options.CertPath != null || options.KeyPath != null)
                throw new ArgumentException("serve: --cert and --key are for HTTPS; add --https.");
            if (options.HttpRedirectPort != null)
                throw new ArgumentException("serve: --http-redirect PORT redirects plain HTTP to HTTPS; add --https.");
            return;
        }
        if (options.CertPath == null || options.KeyPath == null)
            throw new ArgumentException("serve: --https needs --cert FILE.pem (the certificate) and --key FILE.pem (its private key).");
        if (options.HttpRedirectPort is int redirect)
        {
            if (redirect is < 1 or > 65535)
                throw new ArgumentException($"serve: --http-redirect {redirect} is not a TCP port (1–65535).");
            if (redirect == options.Port)
                throw new ArgumentException($"serve: --http-redirect {redirect} is the HTTPS port (--port); give another port.");
        }
    }

    /// <summary>
    /// The certificate with its private key from PEM files (the certificate file may hold the chain after it). Every
    /// failure names the file and the cause: a file that is missing or unreadable, a certificate file with no PEM
    /// certificate, a key file with no PEM private key (PKCS#8, RSA or EC; an encrypted key is not supported) or a key
    /// that is not the certificate's.
    /// </summary>
    /// <exception cref="ArgumentException">the certificate did not load, naming the file and why.</exception>
    public static X509Certificate2 LoadCertificate(string certPath, string keyPath)
    {
        string ReadPem(string path, string option)
        {
            try
            {
                return File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                string cause = e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : e.Message;
                throw new ArgumentException($"serve: the TLS {option} {Path.GetFullPath(path)} did not load: {cause}.", e);
            }
        }
        string certPem = ReadPem(certPath, "certificate (--cert)");
        string keyPem = ReadPem(keyPath, "private key (--key)");
        X509Certificate2 certificate;
        try
        {
            using var alone = X509Certificate2.CreateFromPem(certPem);
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException(
                $"serve: the TLS certificate (--cert) {Path.GetFullPath(certPath)} did not load: it holds no PEM certificate " +
                $"(-----BEGIN CERTIFICATE-----) that parses: {e.Message}", e);
        }
        try
        {
            certificate = X509Certificate2.CreateFromPem(certPem, keyPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new ArgumentException(
                $"serve: the TLS private key (--key) {Path.GetFullPath(keyPath)} did not load for the certificate " +
                $"{Path.GetFullPath(certPath)}: {e.Message} (an unencrypted PEM key, PKCS#8, RSA or EC, that is the " +
                "certificate's own).", e);
        }
        var now = DateTime.Now;
        if (now < certificate.NotBefore || now > certificate.NotAfter)
            Console.Error.WriteLine(
                $"serve: warning: the certificate {Path.GetFullPath(certPath)} is valid from " +
                $"{certificate.NotBefore.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture)} to " +
                $"{certificate.NotAfter.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture)}; clients will refuse it now.");
        return certificate;
    }

    /// <summary>Where a plain request to <paramref name="host"/> goes: the same path and query on https://host:port.</summary>
    public static string RedirectTarget(string host, int httpsPort, string pathAndQuery) =>
        $"https://{host}:{httpsPort.ToString(CultureInfo.InvariantCulture)}{pathAndQuery}";
}
