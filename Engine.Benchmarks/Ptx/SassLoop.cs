using System.Globalization;
using System.Text.RegularExpressions;

namespace Engine.Benchmarks.Ptx;

/// <summary>
/// The innermost loop of a kernel's SASS (<c>cuobjdump -sass</c>): the instructions between a backward branch's
/// target and the branch, choosing, among loops with no loop inside them, the one with the most FFMAs (the hot loop of
/// a matrix product). Its FFMA share and FFMAs per shared-memory load say how much of the loop is arithmetic.
/// </summary>
public sealed record SassLoop(int Instructions, int Ffma, int SharedLoads, int GlobalLoads, int Barriers)
{
    public double FfmaShare => Instructions == 0 ? 0 : (double)Ffma / Instructions;

    public double FfmaPerSharedLoad => SharedLoads == 0 ? 0 : (double)Ffma / SharedLoads;

    private static readonly Regex Line = new(@"/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", RegexOptions.Compiled);
    private static readonly Regex Branch = new(@"\bBRA\b.*?(?:0x([0-9a-f]+))", RegexOptions.Compiled);

    /// <summary>The hot loop of one function's SASS listing; null when it has no loop.</summary>
    public static SassLoop? Find(string sass)
    {
        var code = new List<(long Address, string Text)>();
        foreach (Match m in Line.Matches(sass))
        {
            string text = m.Groups[2].Value.Trim();
            if (text.Length == 0) continue;
            code.Add((long.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture), text));
        }
        var loops = new List<(int From, int To)>();
        for (int i = 0; i < code.Count; i++)
        {
            var b = Branch.Match(code[i].Text);
            if (!b.Success) continue;
            long target = long.Parse(b.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (target > code[i].Address) continue;
            int from = code.FindIndex(c => c.Address == target);
            if (from >= 0) loops.Add((from, i));
        }
        var innermost = loops.Where(l => !loops.Any(o => o != l && o.From >= l.From && o.To <= l.To)).ToList();
        if (innermost.Count == 0) return null;
        SassLoop Measure((int From, int To) l)
        {
            var body = code.Skip(l.From).Take(l.To - l.From + 1).Select(c => c.Text).Where(t => !t.StartsWith("NOP", StringComparison.Ordinal)).ToList();
            int Count(Func<string, bool> f) => body.Count(f);
            return new SassLoop(body.Count,
                Count(t => Opcode(t) == "FFMA"),
                Count(t => Opcode(t).StartsWith("LDS", StringComparison.Ordinal)),
                Count(t => Opcode(t).StartsWith("LDG", StringComparison.Ordinal) || Opcode(t).StartsWith("LD.", StringComparison.Ordinal) || Opcode(t) == "LD"),
                Count(t => Opcode(t).StartsWith("BAR", StringComparison.Ordinal)));
        }
        return innermost.Select(Measure).OrderByDescending(l => l.Ffma).ThenBy(l => l.Instructions).First();
    }

    /// <summary>"@!P0 FFMA R1, R2, R3, R4" → "FFMA"; "LDS.U.128 R4, [R2]" → "LDS.U.128".</summary>
    private static string Opcode(string instruction)
    {
        var parts = instruction.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length == 0 ? "" : parts[0].StartsWith('@') && parts.Length > 1 ? parts[1] : parts[0];
    }
}
