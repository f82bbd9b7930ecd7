"""FedGS in a Flower simulation: a ServerApp and a ClientApp on fedgs_lite's synthetic federation."""
