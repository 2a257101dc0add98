local tb = import 'trialbook.libsonnet';

tb.multiclass {
  name: 'plans',
  data: '../data/small.csv',
  target: 'plan',
  metric: 'accuracy',
  validation: tb.kfold(4, repeat=2),
  holdout: 0,
  explain: true,
  kernel: tb.kernel(gpu=true),
  agent: tb.agents.openai('gpt-test', baseURL='http://127.0.0.1:9999/v1', temperature=0.2) { fixAttempts: 1 },
  recipes: ['../lib/team.libsonnet'],
}
