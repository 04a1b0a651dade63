namespace Engine.Serialization;

/// <summary>A file that is not a valid safetensors file: the message names the file and what is wrong with it.</summary>
public sealed class SafeTensorsFormatException : IOException
{
    public SafeTensorsFormatException(string file, string problem)
        : base($"{file}: not a valid safetensors file: {problem}.")
    {
        File = file;
        Problem = problem;
    }

    /// <summary>The file (or source name) that was read.</summary>
    public string File { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }
}
