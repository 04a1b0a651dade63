namespace Engine.Privacy;

/// <summary>
/// DP federated averaging (McMahan, Ramage, Talwar and Zhang 2018, "Learning Differentially Private Recurrent Language
/// Models", DP-FedAvg with the fixed-denominator estimator), the setting of <see cref="Distributed.FederatedOptions.Privacy"/>:
/// <code>
/// each round: every client k of K takes part independently with probability q = ClientsPerRound / K
///   participant:  Δₖ = w_local − w (E local epochs from the global model w), clipped: Δₖ ← Δₖ·min(1, C/(‖Δₖ‖ + 10⁻⁶))
///   server:       w ← w + (Σ_participants Δₖ + N(0, σ²C²·I)) / (qK)
/// accountant.step(σ, q) per round
/// </code>
/// Each client's whole contribution to a round is its clipped update, so this is client-level (user-level) DP: ε bounds
/// what the released models reveal about any one client's data set. Every client averages with weight 1 (not by sample
/// count: a count would reveal the data's size). The noise is added once, by rank 0, to the all-reduced sum; the
/// participation draw is seeded by (<see cref="Seed"/>, round, rank).
/// </summary>
/// <param name="NoiseMultiplier">σ &gt; 0: the noise's standard deviation is σ·C.</param>
/// <param name="MaxUpdateNorm">C &gt; 0: each client's update is clipped to this L2 norm.</param>
/// <param name="ClientsPerRound">the expected participants a round, qK (≤ K).</param>
/// <param name="Seed">the participation draws' and the noise's seed.</param>
public sealed record FederatedPrivacy(double NoiseMultiplier, double MaxUpdateNorm, double ClientsPerRound, int Seed = 0)
{
    /// <summary>ε spent after <paramref name="rounds"/> rounds among <paramref name="clients"/> clients at δ.</summary>
    public double GetEpsilon(int rounds, int clients, double delta)
    {
        var accountant = new RdpAccountant();
        accountant.Step(NoiseMultiplier, SampleRate(clients), rounds);
        return accountant.GetEpsilon(delta);
    }

    /// <summary>q = ClientsPerRound / K.</summary>
    public double SampleRate(int clients) => ClientsPerRound / clients;

    internal void Check(int clients)
    {
        DpSgd.CheckNoiseMultiplier(NoiseMultiplier, allowZero: false);
        DpSgd.CheckMaxGradNorm(MaxUpdateNorm, NoiseMultiplier);
        if (!(ClientsPerRound > 0 && ClientsPerRound <= clients))
            throw new ArgumentOutOfRangeException(nameof(ClientsPerRound),
                $"federated privacy: ClientsPerRound must be in (0, {clients}] (the clients), got {ClientsPerRound}.");
    }

    /// <summary>Whether <paramref name="rank"/> takes part in <paramref name="round"/> (probability q).</summary>
    internal bool Participates(int round, int rank, int clients)
    {
        double q = SampleRate(clients);
        if (q >= 1) return true;
        var random = new Random(unchecked(Seed * 486187739 + round * 7919 + rank * 104729 + 17));
        return random.NextDouble() < q;
    }
}
