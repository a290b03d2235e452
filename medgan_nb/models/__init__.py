"""GAN architectures, one file per family (toy MLPs, DCGAN, ...)."""
