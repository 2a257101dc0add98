// A team's template library, built on trialbook's: its helpers are hidden.
local tb = import 'trialbook.libsonnet';

{
  churnModel:: tb.binary {
    data: std.extVar('data'),
    target: 'churn',
    features: tb.features(ids=['id'], exclude=['plan']),
    context: 'Team default context.',
    agentsMd+: { sections+: { rules: tb.section(append='- Team rule: no deep learning.') } },
  },
}
