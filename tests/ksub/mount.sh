#!/bin/sh
# Resize the photos of one PersistentVolumeClaim into another.
#KB Jobname thumbnails
#KB Namespace team-a
#KB Image registry.example.com/imagemagick:7
#KB Queuename default
#KB MaxWallTime 30m
#KB MinCpu 1
#KB MinMemory 2Gi
#KB Mount photos /data/in
#KB Mount thumbnails /data/out

set -eu
for photo in /data/in/*.jpg; do
  magick "$photo" -resize 256x256 "/data/out/$(basename "$photo")"
done
