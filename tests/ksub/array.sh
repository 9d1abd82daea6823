#!/bin/sh
# Render ten frames of a scene: an array job, one frame per task.
# The controller sets KBATCH_ARRAY_INDEX (0..9) in every task's environment.

#KB Jobname render-frames
#KB Namespace team-a
#KB Image registry.example.com/render:2
#KB Queuename default
#KB MaxWallTime 2h
#KB MinCpu 2
#KB MinMemory 4Gi
#KB Taskcount 10
#KB RetryLimit 1
#KB Mount frames /frames

set -eu
frame="${KBATCH_ARRAY_INDEX}"
echo "rendering frame ${frame} on $(hostname)"
render --scene /scenes/intro.blend --frame "${frame}" --out "/frames/frame-${frame}.png"
