"""The small torch.nn module whose state dict the tests read and write: Conv2d + GroupNorm + Linear."""
import torch


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3)
        self.norm = torch.nn.GroupNorm(2, 4)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.norm(self.conv(x)).flatten(1))
