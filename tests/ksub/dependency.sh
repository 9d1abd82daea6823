#!/bin/sh
# Encode the rendered frames into a film once every frame has rendered:
#   ksub --dependency Success:render-frames dependency.sh
#KB Jobname encode-film
#KB Namespace team-a
#KB Image registry.example.com/ffmpeg:7
#KB Queuename default
#KB MaxWallTime 1h
#KB MinCpu 1500m
#KB MinMemory 3Gi
#KB Mount frames /frames

set -eu
ffmpeg -framerate 24 -i /frames/frame-%d.png -c:v libx264 /frames/film.mp4
