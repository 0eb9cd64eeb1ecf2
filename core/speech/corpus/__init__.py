"""Where the recognizers' speech comes from: LJ Speech's layout, its synthetic stand-in, real recordings (with the
guard that keeps evaluation clips out of training), and on-the-fly augmentation."""
