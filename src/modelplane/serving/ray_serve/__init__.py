"""A deployment's model as a Ray Serve application on a cluster (`--serve-backend ray`), behind the same
front end: the modelplane process keeps REST, gRPC, auth, limits, metering, audit, the prediction log and
the dynamic batcher, and sends each batch to the application's handle. Ray's router spreads the batches
over the replicas, and Ray's autoscaler sizes them (the mapping from modelplane's options is `mapping`)."""

from modelplane.serving.ray_serve.version import RayServeVersion

__all__ = ["RayServeVersion"]
