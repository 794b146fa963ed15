import time, keras, tensorflow as tf, numpy as np
from tfmtl import tasks as tasks_lib
from tfmtl.data import SyntheticScenes, SplitHalves
from tfmtl.models.backbones import ResNet
from tfmtl.sharing.adashare import *
from tfmtl.trainers.controller import Controller
names=("segmentation","edges","depth")
src=SplitHalves(SyntheticScenes(image_size=16,num_train=64,num_validation=16,num_test=16))
sched=AdaShareSchedule(4,2,2)
c=Controller(model_dir="/tmp/ada1",tasks=tasks_lib.tasks_for(src,names),
  sharing=lambda: AdaShare(ResNet(18,stem="small",widths=(8,8,16,16)),tasks=names),
  optimizers={"weights":lambda: keras.optimizers.Adam(1e-3,beta_1=0.5),"arch":lambda: keras.optimizers.Adam(0.01)},
  train_data=src,global_batch_size=8,schedule=sched,
  train_splits={"train":"train","train1":"train1","train2":"train2"},
  actions=[AdaShareCurriculum(4,4,1),SavePolicy(4)],summary_every=4)
t=time.time(); c.train(16); print(time.time()-t)
print(c.model.sharing.execute_probabilities(), c.model.sharing.temperature.numpy(), c.model.sharing.num_train_layers.numpy())
r=c.evaluate(2); print(r)
