local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  holdout: 0.7,
  seed: -1,
  validation: tb.kfold(1),
  agent: tb.agents.builtin { kind: 'gpt', fixAttempts: -1 },
}
