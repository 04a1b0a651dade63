namespace Engine;

/// <summary>A source of random draws whose position can be read and set back (a dropout layer's call count, the
/// process-wide <see cref="Generator"/>'s draw count).</summary>
internal interface IRandomStream
{
    long Position { get; set; }
}

/// <summary>
/// Lets activation checkpointing replay a segment's randomness (PyTorch stashes and restores the RNG state for
/// <c>torch.utils.checkpoint</c>): while a recording is open on this thread, every stream a draw comes from is noted
/// with its position before its first draw; <see cref="Recording.Replay"/> later sets those positions back around a
/// recomputation, so the same dropout masks come out, and then returns each stream to where it was.
/// </summary>
internal static class RandomReplay
{
    [ThreadStatic] private static List<Recording>? open;

    /// <summary>Called by a stream just before it draws.</summary>
    public static void Touch(IRandomStream stream)
    {
        if (open is not { Count: > 0 }) return;
        foreach (var recording in open) recording.Note(stream);
    }

    /// <summary>Starts noting the streams drawn from on this thread until the recording is disposed.</summary>
    public static Recording Record()
    {
        var recording = new Recording();
        (open ??= new List<Recording>()).Add(recording);
        return recording;
    }

    public sealed class Recording : IDisposable
    {
        private readonly Dictionary<IRandomStream, long> before = new(ReferenceEqualityComparer.Instance);

        internal void Note(IRandomStream stream) => before.TryAdd(stream, stream.Position);

        public void Dispose() => open?.Remove(this);

        /// <summary>Runs <paramref name="action"/> with every noted stream at its recorded position, then puts each
        /// back where it was.</summary>
        public T Replay<T>(Func<T> action)
        {
            var now = new Dictionary<IRandomStream, long>(ReferenceEqualityComparer.Instance);
            foreach (var stream in before.Keys) now[stream] = stream.Position;
            foreach (var (stream, position) in before) stream.Position = position;
            try
            {
                return action();
            }
            finally
            {
                foreach (var (stream, position) in now) stream.Position = position;
            }
        }
    }
}
