#!/bin/sh
# Fine-tune a model on two NVIDIA L4 GPUs.
#KB Jobname finetune
#KB Namespace team-a
#KB Image registry.example.com/train:cuda12
#KB Queuename gpu
#KB GPU nvidia-l4 2
#KB MaxWallTime 6h
#KB MinCpu 8
#KB MinMemory 30Gi

set -eu
nvidia-smi
python3 -m train --epochs 3 --gpus 2 --checkpoint-every 15m
