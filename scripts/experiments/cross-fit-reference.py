#!/usr/bin/env python3
"""Python references for scripts/experiments/cross-fit.ts on the same exported features.

Usage: cross-fit-reference.py <dir with {train,test}-{features,labels}.npy> <seeds, e.g. 1,2,3,4,5>
Prints one JSON object: method name -> list of test accuracies, one per seed.

- PyTorch's recipe (what a user writes in 20 lines): a stratified 80/20 split, features standardized with the
  training split's mean/std, nn.Linear with PyTorch's default initialisation, Adam (torch defaults, lr 1e-3),
  batch 32, up to 50 epochs, early stopping on validation loss with patience 5, best weights restored.
- scikit-learn: StandardScaler + LogisticRegression (lbfgs), C tuned by a 5-fold stratified grid search over
  13 values in [1e-4, 1e2] on all labelled images, refitted on all of them.
- scikit-learn, a non-linear probe (is the linear head the limit?): StandardScaler + SVC with an RBF kernel, C and
  gamma tuned the same way (5 x 3 values), refitted on all labelled images.
"""
import json
import os
import sys

import numpy as np

directory, seeds = sys.argv[1], [int(s) for s in sys.argv[2].split(',')]
x_train = np.load(os.path.join(directory, 'train-features.npy')).astype(np.float32)
y_train = np.load(os.path.join(directory, 'train-labels.npy')).astype(np.int64)
x_test = np.load(os.path.join(directory, 'test-features.npy')).astype(np.float32)
y_test = np.load(os.path.join(directory, 'test-labels.npy')).astype(np.int64)
num_classes = int(y_train.max()) + 1
results = {}

try:
    import torch
    from sklearn.model_selection import train_test_split
    torch.set_num_threads(2)

    def torch_recipe(seed):
        torch.manual_seed(seed)
        rows = np.arange(len(y_train))
        fit_rows, val_rows = train_test_split(rows, test_size=0.2, stratify=y_train, random_state=seed)
        mean = x_train[fit_rows].mean(0)
        std = x_train[fit_rows].std(0)
        std[std < 1e-12] = 1
        prep = lambda x: torch.from_numpy((x - mean) / std)
        xf, yf = prep(x_train[fit_rows]), torch.from_numpy(y_train[fit_rows])
        xv, yv = prep(x_train[val_rows]), torch.from_numpy(y_train[val_rows])
        model = torch.nn.Linear(x_train.shape[1], num_classes)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        best, best_state, waited = float('inf'), None, 0
        for _ in range(50):
            model.train()
            order = torch.randperm(len(yf))
            for start in range(0, len(yf), 32):
                batch = order[start:start + 32]
                optimizer.zero_grad()
                loss_fn(model(xf[batch]), yf[batch]).backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                val_loss = loss_fn(model(xv), yv).item()
            if val_loss < best:
                best, waited = val_loss, 0
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if waited >= 5:
                    break
        model.load_state_dict(best_state)
        with torch.no_grad():
            predicted = model(prep(x_test)).argmax(1).numpy()
        return float((predicted == y_test).mean())

    results['PyTorch recipe: 80/20 split, nn.Linear default init, Adam 1e-3, patience 5'] = [torch_recipe(seed) for seed in seeds]
except ImportError as error:
    print(f'PyTorch reference skipped: {error} (apt-get install python3-torch)', file=sys.stderr)

try:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def sklearn_recipe(seed):
        search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
                              {'logisticregression__C': np.logspace(-4, 2, 13)},
                              cv=StratifiedKFold(5, shuffle=True, random_state=seed), scoring='neg_log_loss')
        search.fit(x_train, y_train)
        return float((search.predict(x_test) == y_test).mean())

    results['scikit-learn LogisticRegression, C tuned by 5-fold CV'] = [sklearn_recipe(seed) for seed in seeds]

    from sklearn.svm import SVC

    def svm_recipe(seed):
        gamma = 1.0 / x_train.shape[1]  # 'scale' on standardized features
        search = GridSearchCV(make_pipeline(StandardScaler(), SVC()),
                              {'svc__C': [0.3, 1, 3, 10, 30], 'svc__gamma': [gamma / 3, gamma, gamma * 3]},
                              cv=StratifiedKFold(5, shuffle=True, random_state=seed))
        search.fit(x_train, y_train)
        return float((search.predict(x_test) == y_test).mean())

    results['scikit-learn SVC (RBF kernel), C and gamma tuned by 5-fold CV'] = [svm_recipe(seed) for seed in seeds]
except ImportError as error:
    print(f'scikit-learn reference skipped: {error} (apt-get install python3-sklearn)', file=sys.stderr)

print(json.dumps(results))
