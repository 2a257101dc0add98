// trialbook.libsonnet — the library every problem file imports:
//
//   local tb = import 'trialbook.libsonnet';
//   tb.regression { data: 'train.csv', target: 'SalePrice', metric: 'rmse' }
//
// It is embedded in the trialbook binary and served before the -J paths, so it
// always matches the binary that evaluates it. Everything here is hidden (::)
// except what a constructor puts into a problem; a team library can build on
// it (`local tb = import 'trialbook.libsonnet'; tb + { house:: ... }`) and keep
// its own helpers hidden too, because trialbook rejects unknown visible fields.
// docs/problems.md describes every field.
{
  // Metrics the harness computes itself, with their direction and the tasks
  // they fit. specs/metrics.go holds the same table; a test keeps them equal.
  metrics:: {
    rmse: { name: 'rmse', direction: 'minimize', tasks: ['regression'] },
    rmsle: { name: 'rmsle', direction: 'minimize', tasks: ['regression'] },
    mae: { name: 'mae', direction: 'minimize', tasks: ['regression'] },
    r2: { name: 'r2', direction: 'maximize', tasks: ['regression'] },
    mape: { name: 'mape', direction: 'minimize', tasks: ['regression'] },
    logloss: { name: 'logloss', direction: 'minimize', tasks: ['binary', 'multiclass'] },
    auc: { name: 'auc', direction: 'maximize', tasks: ['binary', 'multiclass'] },
    accuracy: { name: 'accuracy', direction: 'maximize', tasks: ['binary', 'multiclass'] },
    f1: { name: 'f1', direction: 'maximize', tasks: ['binary', 'multiclass'] },
  },

  // The defaults every constructor starts from; Go applies the same ones to a
  // problem written without this library.
  defaults:: {
    seed: 42,
    holdout: 0.2,
    trials: 20,
    folds: 5,
    fixAttempts: 3,
  },

  // Validation protocols. The harness makes the folds; trials only use them.
  kfold(n=$.defaults.folds, repeat=0):: { kind: 'kfold', folds: n } + (if repeat > 0 then { repeat: repeat } else {}),
  stratifiedKfold(n=$.defaults.folds, repeat=0):: { kind: 'stratified_kfold', folds: n } + (if repeat > 0 then { repeat: repeat } else {}),
  groupKfold(n, column):: { kind: 'group_kfold', folds: n, group: column },
  timeSeriesSplit(n, column):: { kind: 'time_series', folds: n, time: column },

  // base is what every problem starts from.
  base:: {
    seed: $.defaults.seed,
    holdout: $.defaults.holdout,
    trials: $.defaults.trials,
    agent: $.agents.builtin,
    featureResearch: false,
    explain: false,
  },

  // Task constructors. tb.classification leaves binary or multiclass to the
  // data: two classes make it binary, more make it multiclass.
  regression:: $.base { task: 'regression', metric: 'rmse', validation: $.kfold() },
  classification:: $.base { task: 'classification', metric: 'logloss', validation: $.stratifiedKfold() },
  binary:: $.classification { task: 'binary', metric: 'auc' },
  multiclass:: $.classification { task: 'multiclass', metric: 'logloss' },

  // Budgets, as a mixin: tb.regression + tb.budget(trials=50, time='2h') { ... }.
  // Durations are Go duration strings: '90s', '30m', '1h30m'.
  budget(trials=null, time=null, trialTime=null, cellTime=null, cellsPerTrial=null)::
    (if trials != null then { trials: trials } else {})
    + (if cellsPerTrial != null then { cellsPerTrial: cellsPerTrial } else {})
    + (if time != null then { time: time } else {})
    + (if trialTime != null then { trialTime: trialTime } else {})
    + (if cellTime != null then { cellTime: cellTime } else {}),

  // Which columns trials may use: features: tb.features(ids=['Id']).
  // ids are row identifiers, never features; an empty include means all.
  features(include=[], exclude=[], ids=[]):: { include: include, exclude: exclude, ids: ids },

  // Where trials run: kernel: tb.kernel(gpu=true). name is a kernelspec
  // name; '' is the project's python3. sandbox: 'auto' confines each trial's
  // kernel (no network; writes only to its trials/NNN/ and a private tmp;
  // data/ read-only; nothing else of the experiment) where the host can,
  // and says so where it cannot; 'required' refuses to run unconfined;
  // 'off' runs with the user's full rights. transport: 'ipc' (Unix sockets
  // in a 0700 folder) or 'tcp' (loopback ports; never sandboxed). memory
  // ('4GiB', '512MiB', bytes) and processes cap each kernel; null is the
  // default (3/4 of the machine's memory, 1024 processes and threads), 0 no
  // cap. See docs/sandbox.md.
  kernel(name='', gpu=false, sandbox='auto', transport='ipc', memory=null, processes=null)::
    { name: name, gpu: gpu, sandbox: sandbox, transport: transport }
    + (if memory != null then { memory: memory } else {})
    + (if processes != null then { processes: processes } else {}),

  // Who proposes trials. LLM agents: mode='interactive' (tool calling,
  // cell by cell; the default) or 'whole' (the whole trial at once, for
  // small local models); retry={ total: '6m', attempt: '3m', base: '1s',
  // max: '30s' } bounds how provider faults are retried (docs/llm-agents.md).
  agents:: {
    builtin: { kind: 'builtin', fixAttempts: $.defaults.fixAttempts },
    llm_(kind, model, baseURL, temperature, mode, retry):: self.builtin { kind: kind, model: model }
      + (if baseURL != null then { baseURL: baseURL } else {})
      + (if temperature != null then { temperature: temperature } else {})
      + (if mode != null then { mode: mode } else {})
      + (if retry != null then { retry: retry } else {}),
    openai(model, baseURL=null, temperature=null, mode=null, retry=null):: self.llm_('openai', model, baseURL, temperature, mode, retry),
    anthropic(model, baseURL=null, temperature=null, mode=null, retry=null):: self.llm_('anthropic', model, baseURL, temperature, mode, retry),
  },

  // AGENTS.md: section(...) builds one section override; see docs/problems.md.
  section(title=null, body=null, prepend=null, append=null, after=null)::
    (if title != null then { title: title } else {})
    + (if body != null then { body: body } else {})
    + (if prepend != null then { prepend: prepend } else {})
    + (if append != null then { append: append } else {})
    + (if after != null then { after: after } else {}),
}
