local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  agent: tb.agents.openai('gpt-x', mode='tools', retry={ total: '10s', attempt: '1m', wait: '2s', base: 'soon' }) { maxCost: -1 },
}
