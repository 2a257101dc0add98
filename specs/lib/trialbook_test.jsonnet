// Assertions on trialbook.libsonnet, evaluated by TestLibraryInJsonnet. Each
// field is one named check; std.assertEqual fails evaluation with both values.
local tb = import 'trialbook.libsonnet';

local problem(p) = p { data: 'x.csv', target: 'y' };

{
  kfold_default: std.assertEqual(tb.kfold(), { kind: 'kfold', folds: 5 }),
  kfold_repeat: std.assertEqual(tb.kfold(3, repeat=2), { kind: 'kfold', folds: 3, repeat: 2 }),
  stratified: std.assertEqual(tb.stratifiedKfold(10), { kind: 'stratified_kfold', folds: 10 }),
  group: std.assertEqual(tb.groupKfold(4, 'store'), { kind: 'group_kfold', folds: 4, group: 'store' }),
  time_series: std.assertEqual(tb.timeSeriesSplit(6, 'date'), { kind: 'time_series', folds: 6, time: 'date' }),

  regression_defaults: std.assertEqual(
    problem(tb.regression),
    {
      task: 'regression', metric: 'rmse', validation: { kind: 'kfold', folds: 5 },
      seed: 42, holdout: 0.2, trials: 20, agent: { kind: 'builtin', fixAttempts: 3 },
      featureResearch: false, explain: false, data: 'x.csv', target: 'y',
    }
  ),
  classification_is_stratified: std.assertEqual(tb.classification.validation, tb.stratifiedKfold(5)),
  classification_leaves_task_to_data: std.assertEqual(tb.classification.task, 'classification'),
  binary: std.assertEqual([tb.binary.task, tb.binary.metric], ['binary', 'auc']),
  multiclass: std.assertEqual([tb.multiclass.task, tb.multiclass.metric], ['multiclass', 'logloss']),
  overrides_win: std.assertEqual((tb.regression { metric: 'mae', seed: 1 }).metric, 'mae'),

  metric_directions: std.assertEqual(
    [m.name for m in std.objectValues(tb.metrics) if m.direction == 'maximize'],
    ['accuracy', 'auc', 'f1', 'r2']
  ),
  metrics_fit_tasks: std.assertEqual(tb.metrics.rmsle.tasks, ['regression']),

  budget_mixin: std.assertEqual(
    (tb.regression + tb.budget(trials=50, time='2h', cellTime='5m')) { data: 'x', target: 'y' }.trials,
    50
  ),
  budget_only_given: std.assertEqual(tb.budget(time='30m'), { time: '30m' }),
  features: std.assertEqual(tb.features(ids=['Id']), { include: [], exclude: [], ids: ['Id'] }),
  kernel: std.assertEqual(tb.kernel(gpu=true), { name: '', gpu: true, sandbox: 'auto', transport: 'ipc' }),
  kernel_caps: std.assertEqual(
    tb.kernel(sandbox='required', memory='2GiB', processes=256),
    { name: '', gpu: false, sandbox: 'required', transport: 'ipc', memory: '2GiB', processes: 256 }
  ),

  agent_builtin: std.assertEqual(tb.agents.builtin, { kind: 'builtin', fixAttempts: 3 }),
  agent_openai: std.assertEqual(
    tb.agents.openai('gpt-x', temperature=0.1),
    { kind: 'openai', model: 'gpt-x', temperature: 0.1, fixAttempts: 3 }
  ),
  agent_anthropic: std.assertEqual(tb.agents.anthropic('claude-x').kind, 'anthropic'),
  agent_retry_mode: std.assertEqual(
    tb.agents.anthropic('claude-x', mode='whole', retry={ total: '2m', attempt: '60s' }),
    { kind: 'anthropic', model: 'claude-x', mode: 'whole', retry: { total: '2m', attempt: '60s' }, fixAttempts: 3 }
  ),

  section: std.assertEqual(tb.section(append='x', after='data'), { append: 'x', after: 'data' }),

  // A team library extends tb and keeps its helpers hidden.
  team_library: std.assertEqual(
    std.objectFields((tb + { house:: tb.regression { target: 'SalePrice' } }).house { data: 'x' }),
    std.objectFields(problem(tb.regression))
  ),
}
