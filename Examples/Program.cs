using System.CommandLine;
using Examples;
using Spectre.Console;

// Redirected to a file or a pipe, tables print full-width rows instead of wrapping at 80 columns.
if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 240;

var device = new Option<string>("--device") { Description = "auto, cpu (SIMD), cuda, opencl or ilgpu-cpu (ILGPU's CPU simulator)", DefaultValueFactory = _ => "auto" };
var output = new Option<string>("--out") { Description = "folder for plots", DefaultValueFactory = _ => "out" };
var data = new Option<string?>("--data") { Description = "folder with MNIST IDX files (default: the bundled 8k/2k subset)" };
var seed = new Option<int>("--seed") { Description = "initial weights and shuffling (run s: layers from streams 2s−1, 2s)", DefaultValueFactory = _ => 1 };

var root = new RootCommand("Engine examples. With no command: MNIST in batch and in online mode, side by side.");
root.Options.Add(device);
root.Options.Add(output);
root.Options.Add(data);
root.Options.Add(seed);
root.SetAction(r => MnistJob.Compare(r.GetValue(device)!, r.GetValue(data), r.GetValue(output)!, r.GetValue(seed)));

var mode = new Option<string>("--mode") { Description = "batch or online", DefaultValueFactory = _ => "batch" };
var optimizer = new Option<string?>("--optimizer") { Description = "sgd, adam, adamw, rmsprop, … (default adam batch, sgd online)" };
var lr = new Option<float?>("--lr") { Description = "learning rate (default 1e-3 batch, 0.03 online)" };
var epochs = new Option<int>("--epochs") { Description = "passes over the training set (batch mode)", DefaultValueFactory = _ => 5 };
var batchSize = new Option<int>("--batch-size") { Description = "rows per step (batch mode)", DefaultValueFactory = _ => 64 };
var mnist = new Command("mnist", "Train a 784→256→10 MLP on MNIST in one mode.");
var mnistMemory = new Option<bool>("--memory") { Description = "print the training steps' peak device memory each epoch (batch) or at the end (online)" };
foreach (var o in new Option[] { mode, optimizer, lr, epochs, batchSize, seed, device, data, output, mnistMemory }) mnist.Options.Add(o);
mnist.SetAction(r => MnistJob.Single(r.GetValue(device)!, r.GetValue(data), r.GetValue(mode)!, r.GetValue(optimizer),
    r.GetValue(lr), r.GetValue(epochs), r.GetValue(batchSize), r.GetValue(seed), r.GetValue(output)!, r.GetValue(mnistMemory)));
root.Subcommands.Add(mnist);

var net = new Option<string>("--net") { Description = "lenet (LeNet-5) or examples (PyTorch's examples/mnist net)", DefaultValueFactory = _ => "lenet" };
var cnnMode = new Option<string>("--mode") { Description = "batch, online, or compare (both: one table, one plot)", DefaultValueFactory = _ => "compare" };
var cnnLr = new Option<float?>("--lr") { Description = "learning rate of every run (default: the net's recipe for the mode, as in the command's description)" };
var cnnSeed = new Option<int>("--seed") { Description = "torch.manual_seed's role: initial weights, dropout and shuffling (online: 100 + seed)", DefaultValueFactory = _ => 0 };
var cnn = new Command("cnn", "A CNN on MNIST images [N, 1, 28, 28] (pixels/255, normalised by mean 0.1307, std 0.3081) in batch and online mode, " +
    "the recipes of Examples/data/pytorch_cnn_recipe.py. lenet: LeNet-5, cross-entropy; batch SGD lr 0.01 momentum 0.9; online SGD lr 0.001 " +
    "momentum 0.9 (at 0.01 it collapses to one class, in PyTorch too). examples: PyTorch's examples/mnist net, log-softmax + NLL; batch " +
    "Adadelta lr 1.0 with StepLR(step 1, gamma 0.7) per epoch; online Adadelta lr 1.0. Batch: shuffled, --batch-size 64, --epochs 5. Online: " +
    "one pass over the training digits in order, batch 1, predict-then-learn.");
foreach (var o in new Option[] { net, cnnMode, cnnLr, epochs, batchSize, cnnSeed, device, data, output }) cnn.Options.Add(o);
cnn.SetAction(r => CnnJob.Run(r.GetValue(device)!, r.GetValue(data), r.GetValue(net)!, r.GetValue(cnnMode)!, r.GetValue(cnnLr),
    r.GetValue(epochs), r.GetValue(batchSize), r.GetValue(cnnSeed), r.GetValue(output)!));
root.Subcommands.Add(cnn);

var regression = new Command("regression", "A linear model by full-batch GD, mini-batch SGD and online SGD.");
regression.Options.Add(device);
regression.SetAction(r => RegressionJob.Run(r.GetValue(device)!));
root.Subcommands.Add(regression);

var drift = new Command("drift", "An online stream whose concept changes halfway: detection and recovery.");
drift.Options.Add(device);
drift.Options.Add(output);
drift.SetAction(r => DriftJob.Run(r.GetValue(device)!, r.GetValue(output)!));
root.Subcommands.Add(drift);

var spiral = new Command("spiral", "The starter example: a tanh MLP on a 3-armed spiral by full-batch GD.");
var spiralEpochs = new Option<int>("--epochs") { Description = "full-batch gradient steps", DefaultValueFactory = _ => 2000 };
spiral.Options.Add(device);
spiral.Options.Add(spiralEpochs);
spiral.SetAction(r => SpiralClassifier.Run(r.GetValue(device)!, r.GetValue(spiralEpochs), 1f));
root.Subcommands.Add(spiral);

var soak = new Command("soak", "A long online run printing device memory at intervals (checkpoint soak and fault tests).");
var soakSteps = new Option<long>("--steps") { Description = "online steps to run", DefaultValueFactory = _ => 1_000_000 };
var reportEvery = new Option<long>("--report-every") { Description = "steps between memory reports", DefaultValueFactory = _ => 10_000 };
var checkpoint = new Option<string?>("--checkpoint") { Description = "checkpoint file (safetensors)" };
var saveEvery = new Option<long>("--save-every") { Description = "samples between checkpoints", DefaultValueFactory = _ => 10_000 };
var resume = new Option<bool>("--resume") { Description = "continue from --checkpoint when it exists" };
foreach (var o in new Option[] { soakSteps, reportEvery, checkpoint, saveEvery, resume, device }) soak.Options.Add(o);
soak.SetAction(r => SoakJob.Run(r.GetValue(device)!, r.GetValue(soakSteps), r.GetValue(reportEvery), r.GetValue(checkpoint),
    r.GetValue(saveEvery), r.GetValue(resume)));
root.Subcommands.Add(soak);

var gradients = new Command("gradients", "Vanishing gradients: a deep sigmoid MLP against ReLU + BatchNorm1d + Kaiming, per-layer gradient norms.");
var depth = new Option<int>("--depth") { Description = "hidden layers", DefaultValueFactory = _ => 10 };
var width = new Option<int>("--width") { Description = "units per hidden layer", DefaultValueFactory = _ => 128 };
var gradientEpochs = new Option<int>("--epochs") { Description = "passes over the training set", DefaultValueFactory = _ => 5 };
var gradientLr = new Option<float>("--lr") { Description = "the SGD runs' learning rate", DefaultValueFactory = _ => 0.1f };
foreach (var o in new Option[] { depth, width, gradientEpochs, gradientLr, seed, device, data, output }) gradients.Options.Add(o);
gradients.SetAction(r => GradientsJob.Execute(r.GetValue(device)!, r.GetValue(data), r.GetValue(output)!, r.GetValue(depth),
    r.GetValue(width), r.GetValue(gradientEpochs), r.GetValue(gradientLr), r.GetValue(seed)));
root.Subcommands.Add(gradients);

var tune = new Command("tune", "Grid search over lr × batch size by k-fold cross-validation, then the online lr by progressive validation.");
var lrs = new Option<string>("--lrs") { Description = "comma-separated learning rates", DefaultValueFactory = _ => "0.0003,0.001,0.003,0.01" };
var batchSizes = new Option<string>("--batch-sizes") { Description = "comma-separated batch sizes", DefaultValueFactory = _ => "32,64,128" };
var folds = new Option<int>("--folds") { Description = "k of the k-fold cross-validation", DefaultValueFactory = _ => 3 };
var tuneEpochs = new Option<int>("--epochs") { Description = "most epochs per trial (early stopping may end one sooner)", DefaultValueFactory = _ => 5 };
var onlinePrefix = new Option<int>("--online-prefix") { Description = "stream samples the online lr is chosen on", DefaultValueFactory = _ => 2000 };
foreach (var o in new Option[] { lrs, batchSizes, folds, tuneEpochs, onlinePrefix, seed, device, data, output }) tune.Options.Add(o);
tune.SetAction(r => TuneJob.Execute(r.GetValue(device)!, r.GetValue(data), r.GetValue(output)!, r.GetValue(lrs)!,
    r.GetValue(batchSizes)!, r.GetValue(folds), r.GetValue(tuneEpochs), r.GetValue(onlinePrefix), r.GetValue(seed)));
root.Subcommands.Add(tune);

var prune = new Command("prune", "Iterative prune-and-finetune of the MNIST MLP (torch.nn.utils.prune's methods): sparsity against test " +
    "accuracy, with one-shot pruning without fine-tuning beside it; a table, out/prune.md and out/prune.svg.");
var pruneMethod = new Option<string>("--method") { Description = "global (GlobalUnstructured L1 over both weights), l1 (L1Unstructured per layer) or ln (LnStructured hidden units)", DefaultValueFactory = _ => "global" };
var pruneRounds = new Option<int>("--rounds") { Description = "prune-and-finetune rounds", DefaultValueFactory = _ => 8 };
var pruneFraction = new Option<double>("--fraction") { Description = "fraction of the remaining weights pruned each round", DefaultValueFactory = _ => 0.4 };
var pruneEpochs = new Option<int>("--epochs") { Description = "dense training epochs before pruning", DefaultValueFactory = _ => 5 };
var finetuneEpochs = new Option<int>("--finetune-epochs") { Description = "fine-tuning epochs after each pruning", DefaultValueFactory = _ => 1 };
var pruneLr = new Option<float>("--lr") { Description = "Adam learning rate (dense and fine-tuning)", DefaultValueFactory = _ => 1e-3f };
foreach (var o in new Option[] { pruneMethod, pruneRounds, pruneFraction, pruneEpochs, finetuneEpochs, batchSize, pruneLr, seed, device, data, output })
    prune.Options.Add(o);
prune.SetAction(r => PruneJob.Run(r.GetValue(device)!, r.GetValue(data), r.GetValue(output)!, r.GetValue(pruneMethod)!,
    r.GetValue(pruneRounds), r.GetValue(pruneFraction), r.GetValue(pruneEpochs), r.GetValue(finetuneEpochs), r.GetValue(batchSize),
    r.GetValue(pruneLr), r.GetValue(seed)));
root.Subcommands.Add(prune);

var distill = new Command("distill", "Knowledge distillation (Hinton et al. 2015): a LeNet-5 teacher to a small MLP student on MNIST; the " +
    "student's test accuracy trained on the labels alone and with Loss.Distillation, from the same weights and batches; a table and out/distill.md.");
var studentHidden = new Option<int>("--hidden") { Description = "the student MLP's hidden units (784→H→10)", DefaultValueFactory = _ => 32 };
var temperature = new Option<float>("--temperature") { Description = "T: the softmax temperature of the soft targets", DefaultValueFactory = _ => 4f };
var alpha = new Option<float>("--alpha") { Description = "α: the soft targets' weight (1 − α: the labels')", DefaultValueFactory = _ => 0.9f };
var teacherEpochs = new Option<int>("--teacher-epochs") { Description = "the teacher's epochs", DefaultValueFactory = _ => 5 };
var studentEpochs = new Option<int>("--epochs") { Description = "each student's epochs", DefaultValueFactory = _ => 30 };
var studentLr = new Option<float>("--lr") { Description = "the students' Adam learning rate", DefaultValueFactory = _ => 1e-3f };
var seeds = new Option<int>("--seeds") { Description = "student pairs trained (seeds seed, seed+1, …): mean and range", DefaultValueFactory = _ => 5 };
foreach (var o in new Option[] { studentHidden, temperature, alpha, teacherEpochs, studentEpochs, batchSize, studentLr, seeds, seed, device, data, output })
    distill.Options.Add(o);
distill.SetAction(r => DistillJob.Run(r.GetValue(device)!, r.GetValue(data), r.GetValue(output)!, r.GetValue(studentHidden),
    r.GetValue(temperature), r.GetValue(alpha), r.GetValue(teacherEpochs), r.GetValue(studentEpochs), r.GetValue(batchSize),
    r.GetValue(studentLr), r.GetValue(seeds), r.GetValue(seed)));
root.Subcommands.Add(distill);

var serve = new Command("serve", "Serve the model over HTTP, or HTTPS with --https --cert FILE.pem --key FILE.pem: predict, learn online (durably), metrics, checkpoints.");
var host = new Option<string>("--host") { Description = "address to listen on (0.0.0.0: every interface)", DefaultValueFactory = _ => "127.0.0.1" };
var port = new Option<int>("--port") { Description = "TCP port", DefaultValueFactory = _ => 8080 };
var token = new Option<string?>("--token") { Description = "bearer token for /learn, /checkpoint, /model (or ENGINE_SERVE_TOKEN)" };
var modelFile = new Option<string?>("--model") { Description = "initial weights (safetensors Linear/ReLU MLP); default: the main example's MLP, untrained" };
var state = new Option<string>("--state") { Description = "folder of the learn log and checkpoints; a restart continues from it", DefaultValueFactory = _ => "serve-state" };
var task = new Option<string>("--task") { Description = "classify (labels) or regress (targets)", DefaultValueFactory = _ => "classify" };
var serveLr = new Option<float>("--lr") { Description = "online SGD learning rate", DefaultValueFactory = _ => 0.03f };
var checkpointEvery = new Option<long>("--checkpoint-every") { Description = "learned samples between checkpoints", DefaultValueFactory = _ => 10_000 };
var maxBody = new Option<int>("--max-body-bytes") { Description = "largest request body accepted (413 beyond)", DefaultValueFactory = _ => 4 << 20 };
var maxAbsFeature = new Option<double>("--max-abs-feature")
{
    Description = "largest |feature| accepted: beyond it a request gets 400 naming the sample and feature (huge finite inputs overflow the weights)",
    DefaultValueFactory = _ => 1e6,
};
var salvage = new Option<bool>("--salvage")
{
    Description = "start even if the learn log is corrupt: keep the records that verify, move the bad bytes to <segment>.corrupt-<time>, report what was lost",
};
var https = new Option<bool>("--https") { Description = "serve HTTPS (Kestrel's TLS) on --port with --cert and --key; plain HTTP is then not served unless --http-redirect is given" };
var cert = new Option<string?>("--cert") { Description = "with --https: the PEM certificate file (the chain may follow it)" };
var key = new Option<string?>("--key") { Description = "with --https: the certificate's PEM private key file (unencrypted PKCS#8, RSA or EC)" };
var httpRedirect = new Option<int?>("--http-redirect") { Description = "with --https: a port where plain HTTP requests are answered 308 to the same URL over https (default: no plain HTTP listener)" };
foreach (var o in new Option[] { host, port, token, modelFile, state, task, serveLr, checkpointEvery, maxBody, maxAbsFeature, salvage, https, cert, key, httpRedirect, seed, device })
    serve.Options.Add(o);
serve.SetAction(r => Examples.Serving.ServeJob.Run(new Examples.Serving.ServeOptions
{
    Host = r.GetValue(host)!, Port = r.GetValue(port), Token = r.GetValue(token) ?? Environment.GetEnvironmentVariable("ENGINE_SERVE_TOKEN") ?? "",
    ModelPath = r.GetValue(modelFile), StateDir = r.GetValue(state)!, Device = r.GetValue(device)!, Task = r.GetValue(task)!,
    Lr = r.GetValue(serveLr), CheckpointEvery = r.GetValue(checkpointEvery), MaxBodyBytes = r.GetValue(maxBody), Seed = r.GetValue(seed),
    MaxAbsFeature = r.GetValue(maxAbsFeature), Salvage = r.GetValue(salvage),
    Https = r.GetValue(https), CertPath = r.GetValue(cert), KeyPath = r.GetValue(key), HttpRedirectPort = r.GetValue(httpRedirect),
}));
root.Subcommands.Add(serve);

var privateCommand = new Command("private", "DP-SGD on MNIST: the main MLP trained with per-sample clipping, Gaussian noise and Poisson " +
    "sampling for each target ε (σ from the RDP accountant), and without privacy; test accuracy against ε in a table (OUT/private-mnist.md) and a plot.");
var privateEpsilons = new Option<string>("--epsilons") { Description = "comma-separated target ε values; inf: without DP", DefaultValueFactory = _ => "1,3,8,inf" };
var privateEpochs = new Option<int>("--epochs") { Description = "passes over the training set", DefaultValueFactory = _ => 15 };
var privateBatch = new Option<int>("--batch-size") { Description = "expected batch size (Poisson sampling at batch/N)", DefaultValueFactory = _ => 256 };
var privateLr = new Option<float>("--lr") { Description = "SGD learning rate", DefaultValueFactory = _ => 0.5f };
var maxGradNorm = new Option<double>("--max-grad-norm") { Description = "C: each sample's gradient is clipped to this L2 norm", DefaultValueFactory = _ => 1.0 };
var delta = new Option<double>("--delta") { Description = "δ of the (ε, δ) guarantee (below 1/N)", DefaultValueFactory = _ => 1e-5 };
foreach (var o in new Option[] { privateEpsilons, privateEpochs, privateBatch, privateLr, maxGradNorm, delta, seed, device, data, output })
    privateCommand.Options.Add(o);
privateCommand.SetAction(r => PrivateJob.Execute(r.GetValue(device)!, r.GetValue(data), r.GetValue(output)!, r.GetValue(privateEpsilons)!,
    r.GetValue(privateEpochs), r.GetValue(privateBatch), r.GetValue(privateLr), r.GetValue(maxGradNorm), r.GetValue(delta), r.GetValue(seed)));
root.Subcommands.Add(privateCommand);

var federated = new Command("federated", "Federated averaging: each mpirun rank is a client with its own part of MNIST.");
var rounds = new Option<int>("--rounds") { Description = "communication rounds", DefaultValueFactory = _ => 10 };
var localEpochs = new Option<int>("--local-epochs") { Description = "E: local passes per round", DefaultValueFactory = _ => 1 };
var clientBatch = new Option<int>("--batch-size") { Description = "B: the clients' batch size", DefaultValueFactory = _ => 32 };
var clientLr = new Option<float>("--lr") { Description = "the clients' SGD learning rate", DefaultValueFactory = _ => 0.05f };
var nonIid = new Option<bool>("--non-iid") { Description = "each client mostly a few digits (McMahan et al.'s 2 shards per client)" };
var dpNoise = new Option<double?>("--noise-multiplier") { Description = "DP-FedAvg: σ (server noise σC on the summed clipped updates); unset: plain FedAvg" };
var dpUpdateNorm = new Option<double>("--max-update-norm") { Description = "DP-FedAvg: C, each client's update clipped to this L2 norm", DefaultValueFactory = _ => 1.0 };
var dpClients = new Option<double?>("--clients-per-round") { Description = "DP-FedAvg: expected participants a round, qK (default: all clients)" };
foreach (var o in new Option[] { rounds, localEpochs, clientBatch, clientLr, nonIid, dpNoise, dpUpdateNorm, dpClients, seed, device, data, output })
    federated.Options.Add(o);
federated.SetAction(r => FederatedJob.Run(r.GetValue(device)!, r.GetValue(data), r.GetValue(output)!, r.GetValue(rounds),
    r.GetValue(localEpochs), r.GetValue(clientBatch), r.GetValue(clientLr), r.GetValue(nonIid), r.GetValue(seed),
    r.GetValue(dpNoise), r.GetValue(dpUpdateNorm), r.GetValue(dpClients)));
root.Subcommands.Add(federated);

var check = new Command("distributed-check", "The data-parallel equivalence and fault check the tests run under mpirun.");
var checkOptimizer = new Option<string>("--optimizer") { Description = "sgd (momentum 0.9), adam, adamw (weight decay 0.05) or lamb", DefaultValueFactory = _ => "sgd" };
var checkEpochs = new Option<int>("--epochs") { Description = "passes over the 96 rows", DefaultValueFactory = _ => 2 };
var checkBatch = new Option<int>("--batch-size") { Description = "global batch (each rank gets its share)", DefaultValueFactory = _ => 16 };
var checkOut = new Option<string>("--out") { Description = "where rank 0 writes the final parameters", DefaultValueFactory = _ => "distributed-check.safetensors" };
var failRank = new Option<int>("--fail-rank") { Description = "the rank that fails (-1: none)", DefaultValueFactory = _ => -1 };
var failAt = new Option<int>("--fail-at") { Description = "the global step it fails at", DefaultValueFactory = _ => 3 };
var failHow = new Option<string>("--fail-how") { Description = "throw, kill or stall (SIGSTOP)", DefaultValueFactory = _ => "throw" };
var mismatchRank = new Option<int>("--mismatch-rank") { Description = "a rank that builds a different model (-1: none)", DefaultValueFactory = _ => -1 };
var checkOnline = new Option<int>("--online") { Description = "-1: mini-batch; 0: online, gradients averaged; K: online, models averaged every K", DefaultValueFactory = _ => -1 };
var noShuffle = new Option<bool>("--no-shuffle") { Description = "batches take the rows in order" };
var checkCheckpoint = new Option<string?>("--checkpoint") { Description = "checkpoint file rank 0 writes (and --resume reads); {rank} in it becomes the rank" };
var checkEvery = new Option<int>("--checkpoint-every-steps") { Description = "steps between checkpoints", DefaultValueFactory = _ => 0 };
var checkResume = new Option<bool>("--resume") { Description = "continue from --checkpoint when it exists" };
var checkAccumulate = new Option<int>("--accumulate") { Description = "batches per optimizer step (gradient accumulation)", DefaultValueFactory = _ => 1 };
var checkZero = new Option<int>("--zero") { Description = "ZeRO stage: 0 none, 1 optimizer state sharded over the ranks, 2 gradients too", DefaultValueFactory = _ => 0 };
var checkBucket = new Option<double>("--bucket-mb") { Description = "ZeRO-2 gradient bucket size in MiB", DefaultValueFactory = _ => 25 };
var checkClip = new Option<float>("--clip") { Description = "clip the gradients' global norm to this (0: no clipping)", DefaultValueFactory = _ => 0 };
var checkSharded = new Option<bool>("--sharded-checkpoint") { Description = "under ZeRO every rank writes its shard of the optimizer state beside the checkpoint" };
var checkClasses = new Option<int>("--classes") { Description = "the model's outputs (≥ 3; 4 gives 180 parameters, a multiple of 2 and 4)", DefaultValueFactory = _ => 3 };
var checkZeroOff = new Option<int>("--zero-off-rank") { Description = "a rank that trains without ZeRO (-1: none), to check the mismatch error", DefaultValueFactory = _ => -1 };
foreach (var o in new Option[] { checkOptimizer, checkEpochs, checkBatch, checkOut, failRank, failAt, failHow, mismatchRank, checkOnline, noShuffle,
             checkCheckpoint, checkEvery, checkResume, checkAccumulate, checkZero, checkZeroOff, checkClasses, checkBucket, checkClip, checkSharded, device })
    check.Options.Add(o);
check.SetAction(r => DistributedCheckJob.Run(r.GetValue(device)!, r.GetValue(checkOptimizer)!, r.GetValue(checkEpochs),
    r.GetValue(checkBatch), r.GetValue(checkOut)!, r.GetValue(failRank), r.GetValue(failAt), r.GetValue(failHow)!, r.GetValue(mismatchRank),
    r.GetValue(checkOnline), !r.GetValue(noShuffle), r.GetValue(checkCheckpoint), r.GetValue(checkEvery), r.GetValue(checkResume),
    r.GetValue(checkAccumulate), r.GetValue(checkZero), r.GetValue(checkZeroOff), r.GetValue(checkClasses), r.GetValue(checkBucket),
    r.GetValue(checkClip), r.GetValue(checkSharded)));
root.Subcommands.Add(check);

var gptMode = new Option<string>("--mode") { Description = "batch, online, or compare (both, one table)", DefaultValueFactory = _ => "compare" };
var gptIters = new Option<int>("--iters") { Description = "batch-mode optimizer steps (nanoGPT's max_iters)", DefaultValueFactory = _ => 2000 };
var gptEvalInterval = new Option<int>("--eval-interval") { Description = "steps between train/val loss reports", DefaultValueFactory = _ => 250 };
var gptEvalIters = new Option<int>("--eval-iters") { Description = "batches per loss estimate", DefaultValueFactory = _ => 20 };
var gptBatch = new Option<int>("--batch-size") { Description = "sequences per batch-mode step", DefaultValueFactory = _ => 12 };
var gptBlock = new Option<int>("--block-size") { Description = "context length (characters)", DefaultValueFactory = _ => 64 };
var gptLayers = new Option<int>("--n-layer") { Description = "Transformer blocks", DefaultValueFactory = _ => 4 };
var gptHeads = new Option<int>("--n-head") { Description = "attention heads", DefaultValueFactory = _ => 4 };
var gptEmbd = new Option<int>("--n-embd") { Description = "width", DefaultValueFactory = _ => 128 };
var gptDropout = new Option<float>("--dropout") { Description = "dropout probability", DefaultValueFactory = _ => 0f };
var gptLr = new Option<float>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => 1e-3f };
var gptOnlineChars = new Option<int>("--online-chars") { Description = "characters the online mode streams (0: the whole training text)", DefaultValueFactory = _ => 0 };
var gptSeed = new Option<int>("--seed") { Description = "initial weights and batches", DefaultValueFactory = _ => 1337 };
var gptSample = new Option<int>("--sample") { Description = "characters to generate after training (0: none)", DefaultValueFactory = _ => 300 };
var gptPrompt = new Option<string>("--prompt") { Description = "text the sample continues", DefaultValueFactory = _ => "\n" };
var gptTemperature = new Option<float>("--temperature") { Description = "sampling temperature", DefaultValueFactory = _ => 0.8f };
var gptTopK = new Option<int>("--top-k") { Description = "sample among the k likeliest characters", DefaultValueFactory = _ => 200 };
var gptOut = new Option<string?>("--out") { Description = "save the model as safetensors with PyTorch's names" };
var gptTrajectory = new Option<string?>("--trajectory") { Description = "folder for the PyTorch step-by-step check (initial and final weights, batches, losses)" };
var gptData = new Option<string?>("--data") { Description = "a text file instead of the bundled tiny-shakespeare" };
var gptCheckpoint = new Option<int>("--checkpoint") { Description = "activation checkpointing: recompute every N blocks in backward (0: off)", DefaultValueFactory = _ => 0 };
var gptMemory = new Option<bool>("--memory") { Description = "print the peak device memory at each report and at the end (under mpirun: every rank's, with its optimizer state)" };
var gptZero = new Option<int>("--zero") { Description = "under mpirun: 0 plain data-parallel, 1 ZeRO stage 1 (optimizer state sharded), 2 stage 2 (gradients too)", DefaultValueFactory = _ => 0 };
var gptBucket = new Option<double>("--bucket-mb") { Description = "ZeRO-2: gradient bucket size in MiB (reduced over the ranks during backward)", DefaultValueFactory = _ => 1 };
var gpt = new Command("gpt", "A character-level GPT (nanoGPT) on tiny-shakespeare, trained in batch mode (nanoGPT's CPU recipe) and online " +
    "over the text as a stream; validation losses in one table, a sample through the KV cache, --out for PyTorch.");
foreach (var o in new Option[] { gptMode, gptIters, gptEvalInterval, gptEvalIters, gptBatch, gptBlock, gptLayers, gptHeads, gptEmbd, gptDropout,
             gptLr, gptOnlineChars, gptSeed, gptSample, gptPrompt, gptTemperature, gptTopK, gptOut, gptTrajectory, gptData, gptCheckpoint,
             gptMemory, gptZero, gptBucket, device }) gpt.Options.Add(o);
gpt.SetAction(r => Examples.Gpt.GptJob.Run(new Examples.Gpt.GptOptions
{
    Device = r.GetValue(device)!, Mode = r.GetValue(gptMode)!, Iters = r.GetValue(gptIters), EvalInterval = r.GetValue(gptEvalInterval),
    EvalIters = r.GetValue(gptEvalIters), BatchSize = r.GetValue(gptBatch), BlockSize = r.GetValue(gptBlock), Layers = r.GetValue(gptLayers),
    Heads = r.GetValue(gptHeads), Embd = r.GetValue(gptEmbd), Dropout = r.GetValue(gptDropout), Lr = r.GetValue(gptLr),
    MinLr = r.GetValue(gptLr) / 10, OnlineChars = r.GetValue(gptOnlineChars), Seed = r.GetValue(gptSeed), Sample = r.GetValue(gptSample),
    Prompt = r.GetValue(gptPrompt)!.Replace("\\n", "\n"), Temperature = r.GetValue(gptTemperature), TopK = r.GetValue(gptTopK),
    Out = r.GetValue(gptOut), Trajectory = r.GetValue(gptTrajectory), Data = r.GetValue(gptData),
    Checkpoint = r.GetValue(gptCheckpoint), Memory = r.GetValue(gptMemory), Zero = r.GetValue(gptZero), BucketMb = r.GetValue(gptBucket),
}));
root.Subcommands.Add(gpt);

// A configuration problem (an unknown or absent device, a missing data folder, a bad option value, state files that are
// corrupt or incomplete) is one line on stderr and exit code 2, not a stack trace; anything else is a bug and keeps its trace.
try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or FormatException
                              or UnauthorizedAccessException or InvalidDataException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
