local team = import 'nope.libsonnet';

team.base { data: '../data/small.csv', target: 'spend' }
