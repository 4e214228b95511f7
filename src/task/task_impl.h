/* task_impl.h - internals of the task module shared by run.c (training) and
 * measure.c (turning a trained state into the catalog's variables). Private
 * to src/task. */
#ifndef POLYSWEEP_TASK_IMPL_H
#define POLYSWEEP_TASK_IMPL_H

#include "polysweep/task.h"
#include "polysweep/train.h"

/* Copy the loss-curve windows that are complete at the state's step. */
void task_copy_curve(TaskResult *r, const TrainState *st);

/* Measure a trained model into r (science.md sections 4 and 5). Returns 0 or
 * PS_ENOMEM. */
int task_measure(TaskResult *r, TrainState *st);

#endif
