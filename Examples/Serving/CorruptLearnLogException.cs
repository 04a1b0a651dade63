namespace Examples.Serving;

/// <summary>
/// The learn log is not what was written (a record that fails its check with complete records after it, a gap in the
/// sample numbers, a segment missing): starting would lose acknowledged learns, so the server refuses with this one-line
/// message (exit code 2) until an operator restores the files or chooses <c>--salvage</c>.
/// </summary>
public sealed class CorruptLearnLogException(string message) : IOException(message);
