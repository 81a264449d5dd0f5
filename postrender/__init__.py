"""postrender: a text-preserving post-renderer for rendered Kubernetes manifests."""

__version__ = "0.1.0"
