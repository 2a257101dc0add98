// A stray copy beside a problem: the embedded library must win over it.
error 'the embedded trialbook.libsonnet must be served before this file'
