using System.Text.RegularExpressions;

namespace Engine.Tests.Docs;

/// <summary>One piece of C# in a Markdown file: a ```csharp block, or a hidden <c>&lt;!-- compile: … --&gt;</c> comment.</summary>
/// <param name="Line">1-based line in the Markdown file of the code's first line.</param>
/// <param name="Hidden">True for a compile comment: code the reader does not see (a placeholder's declaration).</param>
public sealed record CodeBlock(string Code, int Line, bool Hidden);

/// <summary>
/// The C# of a Markdown file, in file order: fenced blocks whose info string is <c>csharp</c> or <c>cs</c>, and HTML
/// comments opening with <c>&lt;!-- compile:</c> (their code runs to <c>--&gt;</c>). Other fences (text, bash, json)
/// are prose to the compiler.
/// </summary>
public static partial class MarkdownCode
{
    [GeneratedRegex(@"^\s*(`{3,}|~{3,})\s*(\S*)")]
    private static partial Regex Fence();

    public static List<CodeBlock> Extract(string markdown)
    {
        var lines = markdown.Replace("\r\n", "\n").Split('\n');
        var blocks = new List<CodeBlock>();
        for (int i = 0; i < lines.Length; i++)
        {
            var open = Fence().Match(lines[i]);
            if (open.Success)
            {
                string fence = open.Groups[1].Value, language = open.Groups[2].Value.ToLowerInvariant();
                int start = i + 1;
                int end = start;
                while (end < lines.Length && !lines[end].TrimStart().StartsWith(fence, StringComparison.Ordinal)) end++;
                if (language is "csharp" or "cs" or "c#")
                    blocks.Add(new CodeBlock(string.Join('\n', lines[start..Math.Min(end, lines.Length)]), start + 1, Hidden: false));
                i = end;
                continue;
            }
            if (lines[i].TrimStart().StartsWith("<!-- compile:", StringComparison.Ordinal))
            {
                var first = lines[i].TrimStart()["<!-- compile:".Length..];
                var code = new List<string>();
                int j = i;
                var line = first;
                while (true)
                {
                    int close = line.IndexOf("-->", StringComparison.Ordinal);
                    if (close >= 0) { code.Add(line[..close]); break; }
                    code.Add(line);
                    if (++j >= lines.Length) break;
                    line = lines[j];
                }
                blocks.Add(new CodeBlock(string.Join('\n', code), i + 1, Hidden: true));
                i = j;
            }
        }
        return blocks;
    }
}
