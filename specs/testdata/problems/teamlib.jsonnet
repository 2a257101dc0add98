// A team library found through -J testdata/lib.
local team = import 'team.libsonnet';

team.churnModel { metric: 'logloss' }
