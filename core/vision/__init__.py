"""The Vision lab: the IST homework CNN in its max-pool and strided variants.

model.py the network; data.py images (KMNIST, OCTMNIST, uploads); protocol.py the homework's sweep, test and
model cards; inference.py checkpoints, one image's classification and the example images; figures.py the plots
both front ends draw; student.py a student's own homework CNN read from its state_dict; cli.py the `python -m core`
commands.
"""
