"""Deployable packages: one deployment as a self-contained Docker build context with Kubernetes and
KServe manifests (writer.py), served from its files alone by `modelplane serve --from DIR` (restore.py).

Its own area: it reads the registry and deployments, and its reason to change is the targets it builds
for (images, clusters), not how models are stored or served."""
