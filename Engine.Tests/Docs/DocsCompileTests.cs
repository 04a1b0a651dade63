using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Engine.Tests.Docs;

/// <summary>
/// Every C# block in the README and the guides in docs/ compiles against the current API, so the docs cannot drift.
/// The blocks of one Markdown file are one program, read in order as a notebook: their <c>using</c> directives apply
/// to all of it, their statements form one async method body (a later block may use what an earlier one declared),
/// their type declarations stay types. A hidden <c>&lt;!-- compile: … --&gt;</c> comment adds code the reader does not
/// see (say, the data a snippet assumes). Errors are reported at the Markdown file's line. The code is compiled, not run
/// (the quick start is run by CI from the packed packages).
/// </summary>
public sealed class DocsCompileTests
{
    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no Engine.sln above {AppContext.BaseDirectory}");
    }

    public static IEnumerable<object[]> MarkdownFiles()
    {
        var root = RepositoryRoot();
        yield return new object[] { "README.md" };
        var docs = Path.Combine(root, "docs");
        if (Directory.Exists(docs))
            foreach (var file in Directory.GetFiles(docs, "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                yield return new object[] { Path.GetRelativePath(root, file).Replace('\\', '/') };
    }

    private static readonly string[] GlobalUsings =
    {
        "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading",
        "System.Threading.Tasks",
    };

    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var runtime = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var paths = Directory.GetFiles(runtime, "*.dll")
            .Where(p => { var n = Path.GetFileName(p); return n.StartsWith("System.", StringComparison.Ordinal) || n is "mscorlib.dll" or "netstandard.dll"; })
            .Concat(new[] { typeof(Tensor).Assembly, typeof(Engine.Kernels.IKernels).Assembly, typeof(ILGPU.Context).Assembly }
                .Select(a => a.Location))
            .Distinct();
        var references = new List<MetadataReference>();
        foreach (var path in paths)
        {
            try
            {
                references.Add(MetadataReference.CreateFromFile(path));
            }
            catch (BadImageFormatException)
            {
                // a native library beside the managed ones
            }
        }
        return references.ToArray();
    });

    /// <summary>The program a Markdown file's blocks make, with #line directives back to the file.</summary>
    public static string Program(string markdownPath, IReadOnlyList<CodeBlock> blocks)
    {
        var usings = new SortedSet<string>(StringComparer.Ordinal);
        var body = new System.Text.StringBuilder();
        var types = new System.Text.StringBuilder();
        foreach (var block in blocks)
        {
            var unit = CSharpSyntaxTree.ParseText(block.Code, new CSharpParseOptions(LanguageVersion.Latest)).GetCompilationUnitRoot();
            foreach (var u in unit.Usings)
                usings.Add(u.ToString().Trim());
            foreach (var member in unit.Members)
            {
                int line = block.Line + member.GetLocation().GetLineSpan().StartLinePosition.Line;
                var target = member is GlobalStatementSyntax ? body : types;
                var text = member is GlobalStatementSyntax g ? g.Statement.ToFullString() : member.ToFullString();
                target.Append($"#line {line} \"{markdownPath}\"\n").Append(text.TrimStart('\n', '\r')).Append('\n');
            }
        }
        var program = new System.Text.StringBuilder();
        foreach (var u in GlobalUsings) program.Append($"using {u};\n");
        foreach (var u in usings) program.Append(u).Append('\n');
        program.Append("#pragma warning disable\n");
        program.Append("internal static class DocumentationProgram\n{\n    internal static async Task Run()\n    {\n");
        program.Append(body).Append("#line default\n        await Task.CompletedTask;\n    }\n}\n");
        program.Append(types);
        return program.ToString();
    }

    [Theory]
    [MemberData(nameof(MarkdownFiles))]
    public void Every_csharp_block_compiles_against_the_current_api(string markdownPath)
    {
        var markdown = File.ReadAllText(Path.Combine(RepositoryRoot(), markdownPath));
        var blocks = MarkdownCode.Extract(markdown);
        if (blocks.Count == 0) return; // a page with no C# has nothing to drift
        var source = Program(markdownPath, blocks);
        var tree = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest), path: markdownPath,
            cancellationToken: TestContext.Current.CancellationToken);
        var compilation = CSharpCompilation.Create("Docs", new[] { tree }, References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true,
                nullableContextOptions: NullableContextOptions.Enable));
        using var output = new MemoryStream();
        var errors = compilation.Emit(output, cancellationToken: TestContext.Current.CancellationToken).Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0,
            $"{markdownPath}: {errors.Count} C# error(s) in its code blocks:\n" +
            string.Join("\n", errors.Take(20).Select(e =>
                $"  {markdownPath}:{e.Location.GetMappedLineSpan().StartLinePosition.Line + 1}: {e.Id} {e.GetMessage()}")));
    }

    /// <summary>The checker itself: a wrong name in a block fails at that block's line; hidden code is compiled too.</summary>
    [Fact]
    public void A_block_that_does_not_compile_is_reported_at_its_markdown_line()
    {
        const string markdown = "# t\n\n<!-- compile: var data = new float[4]; -->\n\n```csharp\nusing Engine;\nvar n = data.Length;\n```\n\ntext\n\n```csharp\nvar t = Tensor.NoSuchMethod(n);\n```\n";
        var blocks = MarkdownCode.Extract(markdown);
        Assert.Equal(3, blocks.Count);
        Assert.True(blocks[0].Hidden);
        var tree = CSharpSyntaxTree.ParseText(Program("t.md", blocks), new CSharpParseOptions(LanguageVersion.Latest), path: "t.md",
            cancellationToken: TestContext.Current.CancellationToken);
        var errors = CSharpCompilation.Create("T", new[] { tree }, References.Value,
                new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary))
            .GetDiagnostics(TestContext.Current.CancellationToken).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        var error = Assert.Single(errors);
        Assert.Contains("NoSuchMethod", error.GetMessage());
        Assert.Equal(13, error.Location.GetMappedLineSpan().StartLinePosition.Line + 1);
    }
}
