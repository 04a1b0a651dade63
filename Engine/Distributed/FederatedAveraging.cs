using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;

namespace Engine.Distributed;

/// <summary>Settings of <see cref="FederatedAveraging.Run"/>.</summary>
public sealed record FederatedOptions
{
    /// <summary>Communication rounds.</summary>
    public int Rounds { get; init; } = 10;

    /// <summary>E: passes over its own data each client makes per round.</summary>
    public int LocalEpochs { get; init; } = 1;

    /// <summary>B: the clients' mini-batch size.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Seeds each client's shuffling (offset by its rank, so clients draw different orders).</summary>
    public int Seed { get; init; }

    /// <summary>DP-FedAvg (<see cref="Engine.Privacy.FederatedPrivacy"/>): sampled clients, clipped updates, server noise. Null: FedAvg.</summary>
    public Engine.Privacy.FederatedPrivacy? Privacy { get; init; }
}

/// <summary>One round's outcome: the global model's evaluation (when an evaluator is given) and the clients' samples.</summary>
/// <param name="Round">1-based.</param>
/// <param name="GlobalLoss">the evaluator's loss of the global model, when given.</param>
/// <param name="GlobalAccuracy">the evaluator's accuracy, when given.</param>
/// <param name="Samples">samples the clients trained on this round.</param>
/// <param name="Seconds">the round's wall time.</param>
/// <param name="Epsilon">with <see cref="FederatedOptions.Privacy"/>: ε spent so far at <see cref="FederatedAveraging.Delta"/>.</param>
/// <param name="Participants">the clients that took part (all of them without privacy).</param>
public sealed record FederatedRound(int Round, double? GlobalLoss, double? GlobalAccuracy, long Samples, double Seconds,
    double? Epsilon = null, int? Participants = null);

/// <summary>
/// Federated averaging (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from Decentralized
/// Data", algorithm FedAvg): each rank is a client whose data never leaves its process. Every round each client starts
/// from the global model, runs E local epochs of mini-batch SGD (its own optimizer) on its data, and the new global
/// model is the sample-count-weighted mean of the clients' models, w ← Σ_k (n_k / n)·w_k (one all-reduce of the
/// parameters and buffers, one of the counts). With one client this is plain local training.
/// </summary>
public static class FederatedAveraging
{
    /// <summary>The δ at which <see cref="FederatedRound.Epsilon"/> is reported under DP-FedAvg.</summary>
    public const double Delta = 1e-5;

    /// <param name="communicator">the clients (ranks); rank 0's initial model is everyone's start.</param>
    /// <param name="model">this client's copy of the model (same shape on every rank).</param>
    /// <param name="optimizer">this client's optimizer over <paramref name="model"/>'s parameters; its state is reset
    /// at the start of every round (each round is fresh local training from the global model, as in FedAvg).</param>
    /// <param name="loss">e.g. <see cref="Trainer.CrossEntropy"/>.</param>
    /// <param name="localData">this client's data (it may be empty: the client then only receives the model).</param>
    /// <param name="options">rounds, local epochs E, batch size B, seed.</param>
    /// <param name="evaluate">scores the global model after each round (called on every rank, e.g. on a test set).</param>
    /// <param name="onRound">called with each round's record (on every rank).</param>
    public static IReadOnlyList<FederatedRound> Run(ICommunicator communicator, Module model, Optimizer optimizer,
        BatchLoss loss, Dataset localData, FederatedOptions options,
        Func<Module, (double Loss, double? Accuracy)>? evaluate = null, Action<FederatedRound>? onRound = null)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(localData);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Rounds < 1 || options.LocalEpochs < 1 || options.BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(options),
                $"federated: rounds, local epochs and batch size must be ≥ 1, got {options.Rounds}, {options.LocalEpochs}, {options.BatchSize}.");
        var device = optimizer.Device;
        var privacy = options.Privacy;
        privacy?.Check(communicator.Size);
        if (privacy != null && model.NamedBuffers().Any())
            throw new NotSupportedException(
                $"federated privacy: the model has buffers ({string.Join(", ", model.NamedBuffers().Select(b => b.Name))}), " +
                "statistics of the clients' data that DP-FedAvg does not privatize; use a model without them (e.g. LayerNorm for BatchNorm).");
        var sync = new DistributedDataParallel(model, optimizer, communicator); // checks shapes, starts from rank 0's model
        var tensors = model.NamedTensors().Select(t => t.Tensor).ToList();
        var loader = localData.Count == 0 ? null
            : new DataLoader(device, localData, Math.Min(options.BatchSize, localData.Count), shuffle: true,
                seed: options.Seed + 1_000_003 * communicator.Rank);
        var rounds = new List<FederatedRound>();
        int epoch = 0;
        for (int round = 1; round <= options.Rounds; round++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            optimizer.ResetState();
            long seen = 0;
            model.Train();
            bool participates = privacy?.Participates(round, communicator.Rank, communicator.Size) ?? true;
            var global = privacy == null ? null : tensors.Select(t => t.ToArray()).ToArray();
            for (int e = 0; e < options.LocalEpochs; e++, epoch++)
            {
                if (loader == null || !participates) continue;
                loader.Epoch = epoch;
                foreach (var batch in loader.NextEpoch())
                {
                    using var scope = new DisposeScope();
                    using (batch)
                    {
                        var l = loss(model.Forward(batch.Features), batch);
                        float value = l.Item();
                        if (!float.IsFinite(value))
                            throw new TrainingDivergedException(
                                $"Federated training diverged on client {communicator.Rank}: loss {value} in round {round}. Lower the learning rate.");
                        l.Backward();
                        optimizer.Step();
                        optimizer.ZeroGrad();
                        seen += batch.Count;
                    }
                }
            }
            if (privacy != null)
            {
                var (participants, epsilon) = PrivateAverage(communicator, privacy, tensors, global!, participates, round);
                var seenAll = new double[] { seen };
                communicator.AllReduce(seenAll, ReduceOp.Sum);
                var privateScore = evaluate?.Invoke(model);
                var privateRecord = new FederatedRound(round, privateScore?.Loss, privateScore?.Accuracy, (long)seenAll[0],
                    clock.Elapsed.TotalSeconds, epsilon, participants);
                rounds.Add(privateRecord);
                onRound?.Invoke(privateRecord);
                continue;
            }
            // w ← Σ_k n_k·w_k / Σ_k n_k over the clients (a client without data contributes nothing).
            var counts = new double[] { localData.Count };
            communicator.AllReduce(counts, ReduceOp.Sum);
            if (counts[0] == 0) throw new InvalidOperationException("federated: no client has any data.");
            float weight = (float)(localData.Count / counts[0]);
            foreach (var t in tensors)
            {
                device.Kernels.Unary<Kernels.AffineOp>(t.Elements, t.Elements, weight, 0f);
                communicator.AllReduce(device, t.Elements, ReduceOp.Sum);
            }
            var totalSeen = new double[] { seen };
            communicator.AllReduce(totalSeen, ReduceOp.Sum);
            var score = evaluate?.Invoke(model);
            var record = new FederatedRound(round, score?.Loss, score?.Accuracy, (long)totalSeen[0], clock.Elapsed.TotalSeconds);
            rounds.Add(record);
            onRound?.Invoke(record);
        }
        GC.KeepAlive(sync);
        return rounds;
    }

    /// <summary>
    /// DP-FedAvg's server step (<see cref="Engine.Privacy.FederatedPrivacy"/>): each participant's update Δ = w_local − w
    /// clipped to C, summed over the clients (one all-reduce per tensor, non-participants adding zeros), rank 0 adding
    /// N(0, σ²C²) once, w ← w + sum/(qK) on every rank. Returns the round's participants and ε so far.
    /// </summary>
    private static (int Participants, double Epsilon) PrivateAverage(ICommunicator communicator,
        Engine.Privacy.FederatedPrivacy privacy, List<Tensor> tensors, float[][] global, bool participates, int round)
    {
        var device = tensors[0].Device;
        var k = device.Kernels;
        // Δ on the host: the update's norm needs every tensor, and the tensors are small next to a round of training.
        var deltas = tensors.Select((t, i) =>
        {
            var local = t.ToArray();
            var d = new float[local.Length];
            if (participates) for (int j = 0; j < d.Length; j++) d[j] = local[j] - global[i][j];
            return d;
        }).ToArray();
        double norm = Math.Sqrt(deltas.Sum(d => d.Sum(v => (double)v * v)));
        float clip = (float)Math.Min(1.0, privacy.MaxUpdateNorm / (norm + 1e-6));
        int clients = communicator.Size;
        float scale = (float)(1.0 / (privacy.SampleRate(clients) * clients));
        uint seed = unchecked((uint)(privacy.Seed * 0x9E3779B1 + round * 0x85EBCA6B + 0x5bd1e995));
        for (int i = 0; i < tensors.Count; i++)
        {
            var d = deltas[i];
            for (int j = 0; j < d.Length; j++) d[j] *= clip;
            using var update = Tensor.FromArray(device, d, tensors[i].Shape);
            if (communicator.Rank == 0)
                k.AddGaussianNoise(update.Elements, unchecked(seed + (uint)i * 0x27d4eb2fu), (float)(privacy.NoiseMultiplier * privacy.MaxUpdateNorm));
            communicator.AllReduce(device, update.Elements, ReduceOp.Sum);
            tensors[i].CopyFrom(global[i]);
            k.Accumulate(update.Elements, tensors[i].Elements, scale);
        }
        var count = new double[] { participates ? 1 : 0 };
        communicator.AllReduce(count, ReduceOp.Sum);
        return ((int)count[0], privacy.GetEpsilon(round, clients, Delta));
    }
}
