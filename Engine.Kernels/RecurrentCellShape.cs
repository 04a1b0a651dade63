namespace Engine.Kernels;

/// <summary>
/// The operands of the fused recurrent-cell kernels: <see cref="Batch"/> rows of <see cref="Hidden"/> units. Gate
/// blocks are [Batch, G·Hidden] row-major, gate g of unit j in row n at n·G·H + g·H + j, in PyTorch's order (LSTM
/// i, f, g, o with G = 4; GRU r, z, n with G = 3); states are [Batch, Hidden]. One thread (or SIMD lane) per (n, j).
/// </summary>
public readonly struct RecurrentCellShape
{
    public RecurrentCellShape(int batch, int hidden)
    {
        Batch = batch;
        Hidden = hidden;
    }

    /// <summary>N, the rows (samples) stepped together.</summary>
    public int Batch { get; }

    /// <summary>H, the hidden units per row.</summary>
    public int Hidden { get; }

    /// <summary>N·H, the units of one state: the kernels' index space.</summary>
    public long Units => (long)Batch * Hidden;

    /// <summary>The launchers' argument check for the LSTM forward (both backends).</summary>
    public void CheckLstmForward(long xGates, long hGates, long c, long state, long saved)
    {
        const string op = "lstm_cell";
        Require(op, "xGates", xGates, 4);
        Require(op, "hGates", hGates, 4);
        Require(op, "c", c, 1);
        Require(op, "state", state, 2);
        Require(op, "saved", saved, 5);
    }

    /// <summary>The launchers' argument check for the LSTM backward (gradient targets may be empty).</summary>
    public void CheckLstmBackward(long saved, long c, long dState, long dXGates, long dHGates, long dC)
    {
        const string op = "lstm_cell backward";
        Require(op, "saved", saved, 5);
        Require(op, "c", c, 1);
        Require(op, "dState", dState, 2);
        Require(op, "dXGates", dXGates, 4, optional: true);
        Require(op, "dHGates", dHGates, 4, optional: true);
        Require(op, "dC", dC, 1, optional: true);
    }

    /// <summary>The launchers' argument check for the GRU forward.</summary>
    public void CheckGruForward(long xGates, long hGates, long hPrev, long hNext, long saved)
    {
        const string op = "gru_cell";
        Require(op, "xGates", xGates, 3);
        Require(op, "hGates", hGates, 3);
        Require(op, "hPrev", hPrev, 1);
        Require(op, "hNext", hNext, 1);
        Require(op, "saved", saved, 4);
    }

    /// <summary>The launchers' argument check for the GRU backward (gradient targets may be empty).</summary>
    public void CheckGruBackward(long saved, long hPrev, long dHNext, long dXGates, long dHGates, long dH)
    {
        const string op = "gru_cell backward";
        Require(op, "saved", saved, 4);
        Require(op, "hPrev", hPrev, 1);
        Require(op, "dHNext", dHNext, 1);
        Require(op, "dXGates", dXGates, 3, optional: true);
        Require(op, "dHGates", dHGates, 3, optional: true);
        Require(op, "dH", dH, 1, optional: true);
    }

    /// <summary>Throws unless a buffer holds perUnit·N·H floats (or none, when optional).</summary>
    private void Require(string op, string name, long length, int perUnit, bool optional = false)
    {
        if (Batch < 0 || Hidden < 0)
            throw new System.ArgumentException($"{op}: N = {Batch} and H = {Hidden} must be ≥ 0.");
        long expected = perUnit * Units;
        if (length == expected || (optional && length == 0)) return;
        throw new System.ArgumentException(
            $"{op}: {name} holds {length} floats, expected {expected} ({perUnit}·N·H with N = {Batch}, H = {Hidden})" +
            (optional ? " or none." : "."));
    }
}
