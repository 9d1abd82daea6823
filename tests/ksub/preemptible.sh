#!/bin/sh
# A checkpointed simulation: cheap preemptible nodes only. A preemption does not count
# against RetryLimit; the task restarts from its last checkpoint.
#KB Jobname simulate
#KB Namespace team-a
#KB Image registry.example.com/sim:5
#KB Queuename long
#KB PreemptibleVM Require
#KB MaxWallTime 36h
#KB RetryLimit 5
#KB Taskcount 4
#KB MinCpu 4
#KB MinMemory 8Gi

set -eu
exec simulate --shard "${KBATCH_ARRAY_INDEX}" --of 4 --resume-from-checkpoint
