"""Understanding one trial: resolving its names onto the graph and computing its graph evidence,
the same for a trial stored in the graph and a trial described from scratch. Used by loaders,
reasoning and evaluation alike (it imports only ``kg`` and ``loaders``' name resolvers)."""
